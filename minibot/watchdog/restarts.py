"""Keeping roles alive: exits, silence, restarts with backoff, and the restart limit (watchdog_role).

Decisions per role process:
- exit `ExitCode.STOPPED` / `ExitCode.ERROR`: the role has journaled a STOP and raised the flag (process.py);
  it is not restarted. Such an exit without STOP.flag is STOP ROLE_FAILED (the STOP went missing).
- exit 0 once the role was asked to end (`control/shutdown.<role>` or `control/shutdown`, the graceful
  ending): it has drained its inputs; it is done, never restarted.
- any other exit (killed, exit 0 without being asked, an interpreter error before the role loop): restart,
  during the graceful ending too (a role killed there still has inputs to answer; ending.py).
  `ExitCode.DUPLICATE` (another process of the role holds its instance lock, minibot/roles/instance.py) is
  such an exit, named as such; if the other process never goes away, the restart limit STOPs the run.
- silent: no heartbeat for `silent_after_wall_s` (minibot/liveness.py: `watchdog.silent_after_s` of run
  clock, but never less than `MIN_SILENT_S` of wall time), plus `STARTUP_GRACE_S` before its first heartbeat
  (imports such as numpy take seconds on a loaded machine): killed and restarted.
- restarts wait `restart_backoff_s` x 2^(restarts in the window - 1), at most `restart_backoff_max_s` (run
  clock); more than `restart_max` restarts in `restart_window_s` (run clock) is STOP ROLE_RESTART_LIMIT.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from minibot.clock import RunClock
from minibot.config.views import WatchdogConfig
from minibot.exitcodes import ExitCode
from minibot.journal.stop import is_stopped
from minibot.liveness import silent_after_wall_s
from minibot.reasons import ReasonCode
from minibot.roles.wake import shutdown_requested
from minibot.watchdog.procs import RoleProcess
from minibot.watchdog.watch import Finding, JournalWatch

STARTUP_GRACE_S = 30.0
# A supervisor loop that itself paused this long (machine asleep, debugger) resets the silence clocks:
# the roles were not silent, nobody was listening.
STALL_S = 2.0
log = logging.getLogger("nore.supervisor.restarts")


class Supervision:
    """Applies the restart policy to every role process on each supervisor tick."""

    def __init__(
        self,
        procs: Mapping[str, RoleProcess],
        watchdog_cfg: WatchdogConfig,
        clock: RunClock,
        watch: JournalWatch,
        on_restart: Callable[[RoleProcess, dict[str, Any]], None],
    ) -> None:
        self.procs = procs
        self.clock = clock
        self.watch = watch
        self.on_restart = on_restart
        speed = clock.speed
        self.silent_s = silent_after_wall_s(watchdog_cfg.silent_after_s, speed)
        self.backoff_base_s = watchdog_cfg.restart_backoff_s / speed
        self.backoff_max_s = watchdog_cfg.restart_backoff_max_s / speed
        self.restart_max = watchdog_cfg.restart_max
        self.window_ms = watchdog_cfg.restart_window_s * 1000.0
        self._last_tick = time.monotonic()
        self._listen_from = self._last_tick

    def tick(self) -> Finding | None:
        """Handle exits, silence and due restarts; a finding means STOP."""
        now = time.monotonic()
        if now - self._last_tick > STALL_S:
            self._listen_from = now
        self._last_tick = now
        for proc in self.procs.values():
            finding = self._tick_one(proc, now)
            if finding is not None:
                return finding
        return None

    def _tick_one(self, proc: RoleProcess, now: float) -> Finding | None:
        if proc.finished:
            return None
        if proc.restart_due is not None:
            if now >= proc.restart_due:
                proc.start()
                log.warning("%s restarted as pid %s", proc.role, proc.pid)
            return None
        code = proc.poll()
        if code in (ExitCode.STOPPED, ExitCode.ERROR):
            proc.finished = True
            if not is_stopped(proc.run_dir):
                return ReasonCode.ROLE_FAILED, f"{proc.role} exited with code {code} but no STOP.flag exists"
            return None
        if code == ExitCode.DUPLICATE:
            return self._schedule(proc, now, f"refused to start: another instance holds its lock (exit {code})", code)
        if code == ExitCode.OK and shutdown_requested(proc.run_dir, proc.role):
            proc.finished = True
            return None
        if code is not None:
            return self._schedule(proc, now, f"exited with code {code}", code)
        if self._silent(proc, now):
            proc.kill()
            return self._schedule(proc, now, f"silent for more than {self.silent_s:.1f} s (wall)", proc.exit_code)
        return None

    def _silent(self, proc: RoleProcess, now: float) -> bool:
        beat = self.watch.last_beat.get(proc.role)
        since = max(beat or 0.0, proc.started_at, self._listen_from)
        allowed = self.silent_s
        if beat is None or beat < proc.started_at:
            allowed += STARTUP_GRACE_S
        return now - since > allowed

    def _schedule(self, proc: RoleProcess, now: float, why: str, code: int | None) -> Finding | None:
        now_ms = self.clock.now_ms()
        times = proc.restart_times_ms
        while times and now_ms - times[0] > self.window_ms:
            times.popleft()
        times.append(now_ms)
        entry = {"ts": now_ms, "reason": why, "exit_code": code, "old_pid": proc.role_pid}
        if len(times) > self.restart_max:
            # refused, so not a restart: status.json and the summary count only restarts that happened,
            # as verify does from the heartbeats (issue 13)
            proc.finished = True
            return (
                ReasonCode.ROLE_RESTART_LIMIT,
                f"{proc.role} {why}: {len(times)} restarts within {self.window_ms / 1000:.0f} s of run clock "
                f"(watchdog.restart_max={self.restart_max})",
            )
        proc.restarts.append(entry)
        proc.backoff_s = min(self.backoff_base_s * 2 ** (len(times) - 1), self.backoff_max_s)
        proc.restart_due = now + proc.backoff_s
        log.warning("%s %s; restarting in %.3f s", proc.role, why, proc.backoff_s)
        self.on_restart(proc, entry)
        return None
