"""What every role process shares: loading the run, heartbeats, graceful shutdown, fail-closed STOP.

A role process is started by the supervisor as `python -m minibot.roles.<role> --run-dir RUN_DIR` (spawn,
never fork; the same on Windows). It reads `RUN_DIR/run.json` (written once, atomically, by the
supervisor), rebuilds the run clock from its anchor, and loops until:
- `RUN_DIR/control/shutdown` or `RUN_DIR/control/shutdown.<role>` exists: graceful end of the run (exit 0,
  `ExitCode.OK`; the supervisor asks roles one stage at a time, upstream first, so each drains its inputs);
- the supervisor that started the run is gone (`OrphanGuard`): nobody would watch or restart it (exit 0);
- `RUN_DIR/STOP.flag` exists: halt at once (exit `ExitCode.STOPPED`);
- a typed `NoreError` escapes: it STOPs the run with that error's reason code (exit `ExitCode.STOPPED`);
- anything else escapes: STOP INTERNAL_ERROR (DISK_LOW for a full disk), traceback only in the role's log
  (exit `ExitCode.ERROR`).

Between rounds with nothing (more) to do the loop sleeps on the role's doorbell until a ring (an append to a
queue it reads, a STOP, a shutdown request) or its nearest deadline (minibot/roles/wake.py): an idle role
costs no CPU. The control files above are read after a control ring (a STOP, a shutdown request) and at
least every `queues.poll_interval_ms` (the safety net), not on every round (`ControlWatch`).

Logging: `role_main` sends every `logging` record to `<run>/<logging.dir>/<role>.log` (JSON lines, rotated
by size; `minibot.logs`). Roles that drive their own loop (asyncio) use the same pieces:
`load_env`, `setup_role_logging`, `Heartbeat`, `ControlWatch` (minibot/roles/wake.py: STOP.flag and the
shutdown files), `OrphanGuard` (minibot/roles/orphan.py), `fail_closed`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from minibot.clock import RunClock
from minibot.config.views import QueuesConfig, WatchdogConfig
from minibot.exitcodes import ExitCode
from minibot.journal.atomic import read_critical_json
from minibot.journal.context import RunContext
from minibot.journal.doorbell import Doorbell, queue_ringer
from minibot.journal.flusher import FLUSHER
from minibot.journal.producer import Producer
from minibot.journal.stop import stop, unexpected_error_reason
from minibot.logs import LoggingConfig, configure_logging
from minibot.memtrace import start_from_env
from minibot.reasons import NoreError
from minibot.roles.instance import InstanceLock, hold_instance, instance_token
from minibot.roles.orphan import OrphanGuard
from minibot.roles.wake import ControlWatch, Rings, Waker, WakeTimer
from minibot.runlayout import RUN_FILE


@dataclass(frozen=True)
class RoleEnv:
    """A role process's view of its run."""

    role: str
    ctx: RunContext
    config: Mapping[str, Any]
    run: Mapping[str, Any]
    clock: RunClock
    log: logging.Logger
    waker: Waker | None = None  # the process's doorbell sleep (role_main sets it once the role holds its lock)

    @property
    def run_dir(self) -> Path:
        """The run directory."""
        return self.ctx.run_dir


class RoleLoop(Protocol):
    """What the generic loop drives."""

    def run_once(self) -> int:
        """Do one round of work; return how many events were handled (0 = idle)."""
        ...

    def backlog(self) -> bool:
        """After a round that handled something: whether inputs were left that no ring will announce (a poll
        stopped at its batch limit), so the next round must start at once."""
        ...

    def flush_if_due(self) -> None:
        """Group-commit tick."""
        ...

    def close(self) -> None:
        """Flush and release everything."""
        ...


def load_env(role: str, run_dir: Path) -> RoleEnv:
    """Read run.json (NonAtomicWrite if damaged) and build the role's environment."""
    run = read_critical_json(run_dir / RUN_FILE)
    clock = RunClock.from_run(run["clock"])
    config = run["config"]
    queues = QueuesConfig.from_config(config)
    ctx = RunContext(run_dir, run["run_id"], run["cmdline_hash"], clock.now_ms, queues, queue_ringer)
    return RoleEnv(role, ctx, config, run, clock, logging.getLogger(f"nore.{role}"))


def setup_role_logging(env: RoleEnv) -> None:
    """Send this process's `logging` records to `<run>/<logging.dir>/<role>.log` (rotated JSON lines)."""
    configure_logging(env.run_dir, LoggingConfig.from_config(env.config), env.role)


class Heartbeat:
    """Publishes `health` events for a role every `interval_s` of run-clock time.

    Each carries the real pid of this interpreter and, when the supervisor started it, the instance token
    of this start (minibot/roles/instance.py): the watchdog identifies a start by its token, not its pid.
    """

    def __init__(self, env: RoleEnv) -> None:
        self.env = env
        self.interval_ms = WatchdogConfig.from_config(env.config).heartbeat_interval_s * 1000
        self.started_ms = env.clock.now_ms()
        self._next_ms = 0.0
        self._identity: dict[str, Any] = {"pid": os.getpid()}
        token = instance_token()
        if token is not None:
            self._identity["instance"] = token
        self._producer: Producer = env.ctx.producer("health", env.role)

    def beat(self, state: str = "OK", force: bool = False, **extra: Any) -> bool:
        """Publish a heartbeat if one is due (or `force`); True when one was published."""
        now = self.env.clock.now_ms()
        if not force and now < self._next_ms:
            return False
        self._next_ms = now + self.interval_ms
        payload = {
            "role": self.env.role,
            "state": state,
            "uptime_s": (now - self.started_ms) / 1000.0,
            **self._identity,
        }
        payload.update(extra)
        self._producer.publish([self._producer.event("health", payload)])
        return True

    def due_in_s(self) -> float:
        """Wall seconds until the next heartbeat is due (0 when it is already)."""
        return self.env.clock.seconds_until(self._next_ms)

    def close(self) -> None:
        """Release the health producer."""
        self._producer.close()


def fail_closed(env: RoleEnv, exc: BaseException) -> int:
    """Turn an escaped error into a journaled STOP and the matching exit code."""
    if isinstance(exc, NoreError):
        code, detail, exit_code = exc.reason_code, exc.detail, ExitCode.STOPPED
        env.log.error("STOP %s: %s", code.value, detail)
    else:
        code, detail, exit_code = unexpected_error_reason(exc), f"{type(exc).__name__}: {exc}", ExitCode.ERROR
        env.log.error("internal error, stopping the run:\n%s", "".join(traceback.format_exception(exc)))
    stop(env.ctx, source=env.role, component=env.role, reason_code=code, detail=detail)
    return exit_code


def run_loop(env: RoleEnv, role: RoleLoop, waker: Waker) -> int:
    """Drive `role` until shutdown or STOP; heartbeats included. Returns the process exit code.

    A round that handled nothing sleeps on the doorbell (`waker`) until a ring or the nearest deadline."""
    heartbeat = Heartbeat(env)
    heartbeat.beat("STARTING", force=True)
    guard = OrphanGuard(env.run)
    control = control_of(env, waker)
    skips: Callable[[Rings], bool] | None = getattr(role, "skips", None)
    round_at = time.monotonic()

    def wanted() -> bool:
        """Whether the rings since the last look ask for a round: any but those the role `skips`, and always
        once the safety net or a heartbeat is due (a stream of skipped rings must not hold off the control
        files, the orphan check, the heartbeat or the inputs left to the safety net)."""
        rings = waker.take_rings()
        return (
            rings is None  # a control file, or new lines of a queue the ring does not name
            or not (rings.queues or rings.marks)  # no ring at all: a deadline
            or skips is None
            or control.shutdown
            or not skips(rings)
            or time.monotonic() - round_at >= waker.timer.safety_s
            or heartbeat.due_in_s() <= 0
        )

    def safety_due_s() -> float:
        """Seconds until the safety net asks for a round again (the last round started at `round_at`)."""
        return round_at + waker.timer.safety_s - time.monotonic()

    try:
        while True:
            waker.drain()  # before anything is looked at: a ring arriving after this wakes the next sleep
            waker.take_rings()  # the round reads everything those rings announced
            round_at = time.monotonic()
            control.refresh()
            if control.stopped:
                return ExitCode.STOPPED
            if control.shutdown and role.run_once() == 0:
                heartbeat.beat("STOPPING", force=True)
                return ExitCode.OK
            if guard.orphaned():
                env.log.error("the supervisor is gone: ending without it (nobody would watch or restart this role)")
                return ExitCode.OK
            with FLUSHER.held():  # the round's group-commit fsyncs go to the flusher thread as one job
                handled = role.run_once()
                role.flush_if_due()
                heartbeat.beat()
            # Every append rings its readers after it is visible, and the round read everything visible when
            # it started (rings drained first): another round is needed at once only if a ring came during it,
            # an input was left unread or the role is draining for the end of the run. Otherwise the sleep
            # ends at the next ring; before, each busy round cost one more, empty round (issue 14, idle cost).
            # A ring that only says a peer's watermark moved while the role holds nothing back for that peer
            # wakes no round either (`wanted`).
            if handled == 0 or not ((waker.drain() and wanted()) or role.backlog() or control.shutdown):
                while waker.sleep(heartbeat.due_in_s(), safety_due_s()) and not wanted():
                    pass
    except BaseException as exc:  # fail closed on anything, then report it
        if isinstance(exc, KeyboardInterrupt):
            return ExitCode.OK
        return fail_closed(env, exc)
    finally:
        role.close()
        heartbeat.close()


def control_of(env: RoleEnv, waker: Waker | None) -> ControlWatch:
    """The control-file watch of `waker` (re-read after a control ring or at the safety net), or one that
    re-reads the files at every round when the role has no doorbell."""
    if waker is not None and waker.control is not None:
        return waker.control
    return ControlWatch(env.run_dir, env.role, 0.0)


def start_role(role: str, argv: list[str] | None) -> tuple[RoleEnv, InstanceLock | None]:
    """Parse `--run-dir RUN_DIR`, load the run, send logs to the role's log, start the opt-in memory tracing and
    take the role's instance lock (None when another process of the role holds it: the caller exits
    `ExitCode.DUPLICATE`)."""
    parser = argparse.ArgumentParser(prog=f"minibot.roles.{role}")
    parser.add_argument("--run-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    env = load_env(role, args.run_dir)
    setup_role_logging(env)
    start_from_env(role)  # opt-in memory growth tracing (bench/bench_run.py --tracemalloc)
    return env, hold_instance(env.run_dir, role, env.log)


def role_main(role: str, build: Callable[[RoleEnv], RoleLoop], argv: list[str] | None = None) -> int:
    """Entry point of `python -m minibot.roles.<role> --run-dir RUN_DIR`."""
    env, lock = start_role(role, argv)
    if lock is None:
        return ExitCode.DUPLICATE
    try:
        env = with_doorbell(env)
        assert env.waker is not None
        try:
            try:
                instance = build(env)
            except BaseException as exc:  # a role that cannot start stops the run, with its reason
                return fail_closed(env, exc)
            return run_loop(env, instance, env.waker)
        finally:
            env.waker.close()
    finally:
        lock.release()


def with_doorbell(env: RoleEnv) -> RoleEnv:
    """`env` with the process's doorbell bound and its port recorded (call while holding the instance lock,
    so a refused duplicate never redirects the rings)."""
    timer = WakeTimer(env.ctx.queues)
    waker = Waker(Doorbell(env.run_dir, env.role), timer, ControlWatch(env.run_dir, env.role, timer.safety_s))
    return dataclasses.replace(env, waker=waker)
