"""The role-process protocol of `minibot.roles.process` for roles that are asyncio programs.

Same semantics as `process.run_loop`: heartbeats (STARTING first, STOPPING on a graceful end), graceful
end when the role's shutdown file exists (exit `ExitCode.OK`), halt when `STOP.flag` exists (`ExitCode.STOPPED`),
ending when the supervisor is gone (`OrphanGuard`),
fail-closed STOP on anything that escapes (`process.fail_closed`). The role's own work runs as one task
(`run()`); meanwhile the loop checks the control files (after a control ring or at the safety net:
minibot/roles/wake.py `ControlWatch`), calls `tick()` and beats, then sleeps until the
role sets its `wake` event (new data to publish), its doorbell rings (a STOP, a shutdown request:
minibot/journal/doorbell.py, received through the event loop), or the nearest deadline passes (the one
`tick()` returns, the next heartbeat, a group commit owed, the safety net: minibot/roles/wake.py). A role
decides a STOP by raising a `NoreError` with its reason code from `run()` or `tick()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol

from minibot.config.views import WatchdogConfig
from minibot.exitcodes import ExitCode
from minibot.journal.doorbell import Doorbell, is_control
from minibot.journal.flusher import FLUSHER
from minibot.reasons import NoreError, ReasonCode
from minibot.roles.orphan import OrphanGuard
from minibot.roles.process import Heartbeat, RoleEnv, fail_closed, start_role
from minibot.roles.wake import ControlWatch, WakeTimer

# How early the event loop's timer is asked to fire before a deadline `tick()` returns; the rest is slept
# with `time.sleep`. The loop's selector waits in whole milliseconds, rounded up (epoll; IOCP on Windows,
# with 1 ms timers held), which made a conflated book's release 0.85 ms late at p50 (up to 2 ms); a
# nanosleep of the remainder lands within ~0.1 ms. It blocks the loop for at most this long, only when
# nothing arrived meanwhile (issue 14, item 2: a late release counts in the pipeline latency).
TIMER_SLACK_S = 0.0015


class AsyncRole(Protocol):
    """What the async loop drives."""

    wake: asyncio.Event
    """Set by the role when `tick()` should run now (it has something to publish)."""

    @property
    def state(self) -> str:
        """Health state reported by periodic heartbeats (STARTING / OK / DEGRADED / DOWN)."""
        ...

    async def run(self) -> None:
        """The role's work: returns after `finish()`, raises a `NoreError` to STOP the run."""
        ...

    async def finish(self) -> None:
        """Ask `run()` to return soon (idempotent)."""
        ...

    def tick(self) -> float | None:
        """Periodic work on the loop: group commit, timers; may raise a `NoreError` to STOP. Returns the wall
        seconds within which it must run again (None: no deadline of its own)."""
        ...

    async def close(self) -> None:
        """After `run()` ended: write what is buffered and release everything (idempotent)."""
        ...


class PolicyRole(ABC):
    """The skeleton of a role whose work returns a health policy's STOP decision (market_role, health_role).

    `run()` raises the decided STOP as a `NoreError` with the detail the policy reported through `_on_stop`;
    `close()` releases the role's resources once, however often the loop calls it.
    """

    def __init__(self) -> None:
        self.wake = asyncio.Event()  # set by the doorbell, and by a role that has something to publish
        self._state = "STARTING"
        self._stop_detail = ""
        self._closed = False

    @property
    def state(self) -> str:
        """The state of the last health round (STARTING before the first)."""
        return self._state

    def _on_stop(self, reason: ReasonCode, detail: str) -> None:
        self._stop_detail = detail

    @abstractmethod
    async def _work(self) -> ReasonCode | None:
        """The role's work until `finish()`: the STOP reason its policy decided, or None."""

    @abstractmethod
    async def _release(self) -> None:
        """Write what is held and release every resource (called once)."""

    async def run(self) -> None:
        """Work until `finish()`; a STOP decided by the health policy is raised with its reason code."""
        reason = await self._work()
        if reason is not None:
            raise NoreError(self._stop_detail or f"health policy decided {reason.value}", reason)

    async def close(self) -> None:
        """Release everything (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._release()


async def _end(task: asyncio.Task[None], role: AsyncRole, grace_s: float) -> None:
    """Let `run()` return within `grace_s`, else cancel it."""
    await role.finish()
    _, pending = await asyncio.wait({task}, timeout=grace_s)
    for left in pending:
        left.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await left


class _Rings(asyncio.DatagramProtocol):
    """The doorbell socket inside the event loop: any datagram (or socket error) sets the role's `wake`; a
    control ring also has the control files read at the next round."""

    def __init__(self, wake: asyncio.Event, control: ControlWatch) -> None:
        self.wake = wake
        self.control = control

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if is_control(data):
            self.control.rung()
        self.wake.set()

    def error_received(self, exc: Exception) -> None:
        self.control.rung()  # e.g. Windows reporting an earlier ICMP: wake, look, sleep again
        self.wake.set()


async def _sleep(task: asyncio.Task[None], wake: asyncio.Event, timeout_s: float) -> None:
    """Until `task` ends, `wake` is set, or `timeout_s` passes."""
    if wake.is_set() or timeout_s <= 0:
        await asyncio.sleep(0)  # let the feed's callbacks run before the next round
        return
    waiter = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({task, waiter}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


def finish_sleep(deadline: float, wake: asyncio.Event) -> None:
    """Sleep the last stretch to `deadline` (a `time.perf_counter()` reading) precisely, when the loop's timer
    woke the role at most `TIMER_SLACK_S` early and nothing else did (`wake` unset: then the round runs now)."""
    rest = deadline - time.perf_counter()
    if 0.0 < rest <= TIMER_SLACK_S and not wake.is_set():
        time.sleep(rest)


async def run_async_loop(
    env: RoleEnv, role: AsyncRole, heartbeat: Heartbeat, timer: WakeTimer, bell: Doorbell | None = None
) -> int:
    """Drive `role` until shutdown or STOP; returns the process exit code. `bell` (if any) sets `role.wake`."""
    grace_s = WatchdogConfig.from_config(env.config).stop_grace_s / 2.0
    heartbeat.beat("STARTING", force=True)
    task = asyncio.create_task(role.run(), name=f"{env.role}-run")
    guard = OrphanGuard(env.run)
    # Without a doorbell nothing rings about the control files: read them at every round.
    control = ControlWatch(env.run_dir, env.role, timer.safety_s if bell is not None else 0.0)
    transport: asyncio.BaseTransport | None = None
    if bell is not None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Rings(role.wake, control), sock=bell.sock)
    try:
        while True:
            control.refresh()
            if control.stopped:
                return ExitCode.STOPPED
            if guard.orphaned():
                env.log.error("the supervisor is gone: ending without it (nobody would watch or restart this role)")
                return ExitCode.OK
            if control.shutdown:
                await _end(task, role, grace_s)
                failure = None if task.cancelled() else task.exception()
                if failure is not None:
                    raise failure
                await role.close()
                heartbeat.beat("STOPPING", force=True)
                return ExitCode.OK
            if task.done():
                task.result()  # re-raises what ended the role
                raise RuntimeError(f"{env.role}: run() returned without a shutdown request or a STOP")
            with FLUSHER.held():  # the round's group-commit fsyncs go to the flusher thread as one job
                due = role.tick()
                role.wake.clear()  # tick() ran synchronously: it published everything that had set it
                heartbeat.beat(role.state)
            deadline = None if due is None else time.perf_counter() + due
            early = None if due is None else max(0.0, due - TIMER_SLACK_S)
            await _sleep(task, role.wake, timer.before_sleep(early, heartbeat.due_in_s()))
            if deadline is not None:
                finish_sleep(deadline, role.wake)
    except (KeyboardInterrupt, asyncio.CancelledError):
        return ExitCode.OK
    except Exception as exc:  # fail closed on anything, then report it
        return fail_closed(env, exc)
    finally:
        if not task.done():
            await _end(task, role, grace_s)
        try:
            await role.close()
        except Exception as exc:  # the exit code already says what ended the role; keep the cause in its log
            env.log.error("%s: closing after the end failed: %s: %s", env.role, type(exc).__name__, exc)
        heartbeat.close()
        if transport is not None:
            transport.close()


def async_role_main(role: str, build: Callable[[RoleEnv, Heartbeat], AsyncRole], argv: list[str] | None = None) -> int:
    """Entry point of `python -m minibot.roles.<role> --run-dir RUN_DIR` for an asyncio role."""
    env, lock = start_role(role, argv)
    if lock is None:
        return ExitCode.DUPLICATE

    async def main() -> int:
        heartbeat = Heartbeat(env)
        try:
            instance = build(env, heartbeat)
        except Exception as exc:  # a role that cannot start stops the run, with its reason
            heartbeat.close()
            return fail_closed(env, exc)
        bell = Doorbell(env.run_dir, env.role)
        try:
            return await run_async_loop(env, instance, heartbeat, WakeTimer(env.ctx.queues), bell)
        finally:
            bell.close()

    try:
        return asyncio.run(main())
    finally:
        lock.release()
