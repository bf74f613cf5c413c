"""How a run ends: roles stopped (stage by stage when graceful, at once after a STOP), final files, summary.

Graceful end (duration reached, operator stop file, Ctrl+C): `control/shutdown.<role>` is created for each
stage of `SHUTDOWN_STAGES` in turn (upstream first) and the stage's roles drain their inputs and exit 0;
then `control/shutdown` marks the run as ended. The watchdog's restart policy keeps running meanwhile: a
role that dies during the ending (kill -9, a crash) before it has drained its inputs is restarted like
during the run, drains and exits 0, so every input still gets its output (every order_intent its
order_result); past `watchdog.restart_max` that is STOP ROLE_RESTART_LIMIT, which accounts for what is left.
After a STOP, roles halt on STOP.flag by themselves (paper execution stops at once); the supervisor only
waits for them. Either way a role still running after `watchdog.stop_grace_s` (wall seconds: how long a
process gets to exit) is killed; every file stays readable. The supervisor owns the run: the ending gets what it
uses from it as an `EndingContext`; the summary lines are summary.py's.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from minibot.clock import RunClock
from minibot.exitcodes import ExitCode
from minibot.journal.atomic import atomic_write_bytes, write_critical_json
from minibot.journal.doorbell import ring_all, ring_roles
from minibot.journal.stop import is_stopped, read_stop
from minibot.metrics.collector import MetricsCollector
from minibot.reasons import NoreError, ReasonCode
from minibot.rolenames import SHUTDOWN_STAGES
from minibot.roles.process import Heartbeat, RoleEnv
from minibot.runlayout import SHUTDOWN_FILE, SIM_STATS_FILE, STOP_FLAG, role_shutdown_file
from minibot.watchdog.checks import QueueWatch
from minibot.watchdog.procs import RoleProcess
from minibot.watchdog.restarts import Supervision
from minibot.watchdog.summary import summary_lines
from minibot.watchdog.watch import Finding, JournalWatch

if TYPE_CHECKING:
    from minibot.metrics.prometheus import PrometheusEndpoint
    from minibot.watchdog.console import ConsoleDashboard
    from minibot.watchdog.simproc import SimulatorProcess
    from minibot.watchdog.suspend import SuspendWatch

WAIT_STEP_S = 0.05
STAGE_WAIT_S = 5.0
log = logging.getLogger("nore.supervisor.ending")


class StatusWriter(Protocol):
    """`Supervisor.write_status`: `<run>/watchdog/status.json` with the run's `state` and `extra` fields."""

    def __call__(self, state: str, **extra: Any) -> None: ...


@dataclass(frozen=True)
class EndingContext:
    """What the ending needs from the run's owner, the supervisor (which builds it and calls `finish_run`):
    its folder, its role processes (the live map: roles started so far), the simulator it started, and the
    four things it does on the ending's behalf."""

    run_dir: Path
    procs: Mapping[str, RoleProcess]
    stop_grace_s: float  # config watchdog.stop_grace_s: wall seconds a role gets to exit
    sim: SimulatorProcess | None
    raise_stop: Callable[[Finding], None]  # journal a STOP found by the watchdog and raise STOP.flag
    write_status: StatusWriter
    say: Callable[[str], None]  # one line for the operator's console
    role_view: Callable[[], dict[str, dict[str, Any]]]  # per-role figures for the metrics collector


@dataclass
class Ending:
    """What the run loop leaves for the ending."""

    run_dir: Path
    clock: RunClock
    metrics: MetricsCollector
    ended_by: str = ""
    ended_ms: int | None = None  # run clock when the watching ended
    internal_error: str | None = None
    watch: JournalWatch | None = None
    heartbeat: Heartbeat | None = None
    supervision: Supervision | None = None
    queues: QueueWatch | None = None
    dashboard: ConsoleDashboard | None = None
    prometheus: PrometheusEndpoint | None = None
    suspend: SuspendWatch | None = None  # names a suspension as the cause of a STOP that raced it
    wall_start: float = field(default_factory=time.monotonic)
    wall_ended: float = 0.0
    unwritten: list[str] = field(default_factory=list)  # ending steps a full disk left undone (summary)

    def metrics_poll(self, roles: dict[str, Any]) -> Finding | None:
        """Fold new journal lines into metrics.json (and the dashboard); a line that does not verify is a STOP
        finding."""
        try:
            self.metrics.poll(self.clock.now_ms(), roles)
        except NoreError as exc:
            return exc.reason_code, f"metrics: {exc.detail}"
        if self.dashboard is not None and self.metrics.latest is not None:
            self.dashboard.update(self.metrics.latest)
        return None

    def close_views(self) -> None:
        """The dashboard shows its final state; the Prometheus endpoint stops serving."""
        if self.dashboard is not None:
            if self.dashboard.is_terminal and self.metrics.latest is not None:
                self.dashboard.update(self.metrics.latest)  # the live view ends on the final figures
            self.dashboard.close()
        if self.prometheus is not None:
            self.prometheus.close()

    def final_metrics(self, roles: dict[str, Any]) -> None:
        """The last metrics.json and snapshot, after every role has ended."""
        try:
            self.metrics.update(self.clock.now_ms(), roles)
            self.metrics.write(final=True)
        except NoreError as exc:
            log.error("final metrics: %s", exc)
        finally:
            self.metrics.close()


@contextlib.contextmanager
def _unless_disk_full(run: EndingContext, ending: Ending, what: str) -> Iterator[None]:
    """A full disk while the run ends is a DISK_LOW STOP (STOP.flag has space set aside), never a traceback:
    the step is left undone, named in the summary, and the ending goes on with the next one (R-P1)."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        log.error("disk full while %s: %s", what, exc)
        if what not in ending.unwritten:
            ending.unwritten.append(what)
        if not is_stopped(run.run_dir):
            run.raise_stop((ReasonCode.DISK_LOW, f"disk full while {what}: {exc}"))


def _cancel_restarts(procs: list[RoleProcess]) -> None:
    """After a STOP (or without a watchdog) nothing is restarted: roles halt on STOP.flag."""
    for proc in procs:
        if not proc.running():
            proc.finished = True


Pending = Callable[[RoleProcess], bool]


def _wait(
    procs: list[RoleProcess], wait_s: float, poll: Callable[[], None], pending: Pending, restart_s: float
) -> bool:
    """Wait up to `wait_s` for `procs` to end (reading the journals and restarting dead roles meanwhile);
    True if they all did. A restart scheduled during the wait extends it to `restart_s` past the restart
    (its backoff may be longer than the wait; the new process needs its start-up before it can drain)."""
    deadline = time.monotonic() + wait_s
    while any(pending(p) for p in procs) and time.monotonic() < deadline:
        poll()
        due = [p.restart_due for p in procs if p.restart_due is not None and not p.finished]
        if due:
            deadline = max(deadline, max(due) + restart_s)
        time.sleep(WAIT_STEP_S)
    return not any(pending(p) for p in procs)


def _wait_exit(procs: list[RoleProcess], grace_s: float, poll: Callable[[], None], pending: Pending) -> None:
    """Wait until `procs` have ended, then kill whatever is left; no role is restarted after this."""
    _wait(procs, grace_s, poll, pending, grace_s)
    for proc in procs:
        proc.finished = True
        if proc.running():
            log.error("%s did not exit within %.1f s: killed", proc.role, grace_s)
            proc.kill()
        proc.poll()


def _journal_poller(run: EndingContext, ending: Ending) -> Callable[[], None]:
    """Keep reading the watchdog's queues and applying the restart policy while the run ends: what they
    prove wrong is still a STOP, and a role that dies before it has drained its inputs is restarted."""

    def poll() -> None:
        finding = None
        with _unless_disk_full(run, ending, "reading the watchdog's queues"):
            finding = _poll_watch(ending.watch) if ending.watch is not None else None
        if finding is None and ending.supervision is not None and not is_stopped(run.run_dir):
            finding = ending.supervision.tick()
        if finding is not None:
            run.raise_stop(finding)
        if is_stopped(run.run_dir):
            _cancel_restarts(list(run.procs.values()))

    return poll


def _poll_watch(watch: JournalWatch) -> Finding | None:
    """The watchdog's queues while the run ends: an error committing them (a cursor that cannot be
    replaced) is a STOP finding here, the ending goes on."""
    try:
        return watch.poll()
    except NoreError as exc:
        return exc.reason_code, f"watchdog_role committing its queues: {exc.detail}"


def _close_watch(run: EndingContext, watch: JournalWatch) -> None:
    """Commit and close the watchdog's queues; a cursor that cannot be written is a STOP, not a traceback."""
    try:
        watch.close()
    except NoreError as exc:
        run.raise_stop((exc.reason_code, f"watchdog_role closing its queues: {exc.detail}"))


def stop_roles(run: EndingContext, ending: Ending) -> None:
    """End every role process: staged and graceful, or (after a STOP) just wait for them to halt."""
    grace_s = run.stop_grace_s
    procs = list(run.procs.values())
    poll = _journal_poller(run, ending)

    def pending(proc: RoleProcess) -> bool:
        # While the watchdog restarts roles, a dead role is still to end until its exit was judged
        # (drained and done, or restarted); after a STOP only a live process is.
        supervised = ending.supervision is not None and not is_stopped(run.run_dir)
        return proc.running() or (supervised and not proc.finished)

    stopped = is_stopped(run.run_dir)
    if stopped or ending.supervision is None:
        _cancel_restarts(procs)
    if not stopped:
        for stage in SHUTDOWN_STAGES:
            members = [run.procs[r] for r in stage if r in run.procs]
            for proc in members:
                atomic_write_bytes(role_shutdown_file(run.run_dir, proc.role), b"", fsync=False)
            ring_roles(run.run_dir, [p.role for p in members])  # a waiting role sees its request at once
            if not _wait(members, min(STAGE_WAIT_S, grace_s), poll, pending, grace_s):
                # A role that only knows the run-wide file (its own loop ignores shutdown.<role>): ask all.
                names = [p.role for p in members if pending(p)]
                log.warning("%s did not end on control/shutdown.<role>: ending every role at once", names)
                break
            if is_stopped(run.run_dir):
                break
        atomic_write_bytes(run.run_dir / SHUTDOWN_FILE, b"", fsync=False)
        ring_all(run.run_dir)
    _wait_exit(procs, grace_s, poll, pending)
    for proc in procs:
        proc.close()


def _save_sim_stats(run: EndingContext, ending: Ending) -> dict[str, Any] | None:
    if run.sim is None:
        return None
    stats = run.sim.final_stats() if run.sim.alive() else run.sim.last_stats
    try:
        if stats is None:
            log.error("no /sim/stats could be read: sim_stats.json not written")
        else:
            with _unless_disk_full(run, ending, SIM_STATS_FILE):
                write_critical_json(run.run_dir / SIM_STATS_FILE, stats)
    finally:
        run.sim.stop()
    return stats


def _stop_event(run_dir: Path) -> dict[str, Any] | None:
    if not is_stopped(run_dir):
        return None
    try:
        return dict(read_stop(run_dir)["payload"])
    except NoreError as exc:
        return {"reason_code": exc.reason_code.value, "component": STOP_FLAG, "detail": exc.detail}


def finish_run(run: EndingContext, env: RoleEnv, ending: Ending) -> int:
    """Stop the roles, write the final files, print the summary; returns the exit code."""
    ending.ended_ms = env.clock.now_ms()
    ending.wall_ended = time.monotonic()
    try:
        stop_roles(run, ending)
    except KeyboardInterrupt:  # a second Ctrl+C: no more waiting
        for proc in run.procs.values():
            proc.kill()
    if ending.heartbeat is not None:
        with _unless_disk_full(run, ending, "the last heartbeat"):
            ending.heartbeat.beat("STOPPING", force=True)
        ending.heartbeat.close()
    if ending.watch is not None:
        _journal_poller(run, ending)()
        with _unless_disk_full(run, ending, "closing the watchdog's queues"):
            _close_watch(run, ending.watch)
    with _unless_disk_full(run, ending, "the final metrics.json"):
        ending.final_metrics(run.role_view())
    ending.close_views()
    sim_stats = _save_sim_stats(run, ending)
    stop_event = _stop_event(run.run_dir)
    if ending.suspend is not None:
        stop_event = ending.suspend.cause(run.run_dir, stop_event)
    counts = ending.queues.counts() if ending.queues is not None else {}
    code = ExitCode.ERROR if ending.internal_error else ExitCode.STOPPED if stop_event else ExitCode.OK
    with _unless_disk_full(run, ending, "watchdog/status.json"):
        run.write_status("ended", ended_by=ending.ended_by, stop=stop_event, exit_code=code, queue_lines=counts)
    for line in summary_lines(run, env, ending, stop_event, counts, sim_stats, code):
        run.say(line)
        log.info("summary: %s", line)
    return code
