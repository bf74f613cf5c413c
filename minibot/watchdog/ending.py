"""How a run ends: roles stopped (stage by stage when graceful, at once after a STOP), final files, summary.

Graceful end (duration reached, operator stop file, Ctrl+C): `control/shutdown.<role>` is created for each
stage of `SHUTDOWN_STAGES` in turn (upstream first) and the stage's roles drain their inputs and exit 0;
then `control/shutdown` marks the run as ended. The watchdog's restart policy keeps running meanwhile: a
role that dies during the ending (kill -9, a crash) before it has drained its inputs is restarted like
during the run, drains and exits 0, so every input still gets its output (every order_intent its
order_result); past `watchdog.restart_max` that is STOP ROLE_RESTART_LIMIT, which accounts for what is left.
After a STOP, roles halt on STOP.flag by themselves (paper execution stops at once); the supervisor only
waits for them. Either way a role still running after `watchdog.stop_grace_s` (wall seconds: how long a
process gets to exit) is killed; every file stays readable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minibot.clock import RunClock
from minibot.config.views import WatchdogConfig
from minibot.journal.atomic import atomic_write_bytes, write_critical_json
from minibot.journal.stop import is_stopped, read_stop
from minibot.metrics.collector import MetricsCollector
from minibot.metrics.prometheus import PrometheusEndpoint
from minibot.reasons import NoreError
from minibot.roles.process import SHUTDOWN_FILE, Heartbeat, RoleEnv, role_shutdown_file
from minibot.watchdog.checks import QueueWatch
from minibot.watchdog.procs import SHUTDOWN_STAGES, RoleProcess
from minibot.watchdog.restarts import Supervision
from minibot.watchdog.watch import Finding, JournalWatch

if TYPE_CHECKING:
    from minibot.watchdog.console import ConsoleDashboard
    from minibot.watchdog.supervisor import Supervisor
    from minibot.watchdog.suspend import SuspendWatch

EXIT_CLEAN = 0
EXIT_USAGE = 2
EXIT_STOP = 3
EXIT_ERROR = 4
SIM_STATS_FILE = "sim_stats.json"
WAIT_STEP_S = 0.05
STAGE_WAIT_S = 5.0
log = logging.getLogger("nore.supervisor.ending")


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


def _journal_poller(sup: Supervisor, ending: Ending) -> Callable[[], None]:
    """Keep reading the watchdog's queues and applying the restart policy while the run ends: what they
    prove wrong is still a STOP, and a role that dies before it has drained its inputs is restarted."""

    def poll() -> None:
        finding = _poll_watch(ending.watch) if ending.watch is not None else None
        if finding is None and ending.supervision is not None and not is_stopped(sup.run_dir):
            finding = ending.supervision.tick()
        if finding is not None:
            sup.raise_stop(finding)
        if is_stopped(sup.run_dir):
            _cancel_restarts(list(sup.procs.values()))

    return poll


def _poll_watch(watch: JournalWatch) -> Finding | None:
    """The watchdog's queues while the run ends: an error committing them (a cursor that cannot be
    replaced) is a STOP finding here, the ending goes on."""
    try:
        return watch.poll()
    except NoreError as exc:
        return exc.reason_code, f"watchdog_role committing its queues: {exc.detail}"


def _close_watch(sup: Supervisor, watch: JournalWatch) -> None:
    """Commit and close the watchdog's queues; a cursor that cannot be written is a STOP, not a traceback."""
    try:
        watch.close()
    except NoreError as exc:
        sup.raise_stop((exc.reason_code, f"watchdog_role closing its queues: {exc.detail}"))


def stop_roles(sup: Supervisor, ending: Ending) -> None:
    """End every role process: staged and graceful, or (after a STOP) just wait for them to halt."""
    grace_s = WatchdogConfig.from_config(sup.cfg).stop_grace_s
    procs = list(sup.procs.values())
    poll = _journal_poller(sup, ending)

    def pending(proc: RoleProcess) -> bool:
        # While the watchdog restarts roles, a dead role is still to end until its exit was judged
        # (drained and done, or restarted); after a STOP only a live process is.
        supervised = ending.supervision is not None and not is_stopped(sup.run_dir)
        return proc.running() or (supervised and not proc.finished)

    stopped = is_stopped(sup.run_dir)
    if stopped or ending.supervision is None:
        _cancel_restarts(procs)
    if not stopped:
        for stage in SHUTDOWN_STAGES:
            members = [sup.procs[r] for r in stage if r in sup.procs]
            for proc in members:
                atomic_write_bytes(role_shutdown_file(sup.run_dir, proc.role), b"", fsync=False)
            if not _wait(members, min(STAGE_WAIT_S, grace_s), poll, pending, grace_s):
                # A role that only knows the run-wide file (its own loop ignores shutdown.<role>): ask all.
                names = [p.role for p in members if pending(p)]
                log.warning("%s did not end on control/shutdown.<role>: ending every role at once", names)
                break
            if is_stopped(sup.run_dir):
                break
        atomic_write_bytes(sup.run_dir / SHUTDOWN_FILE, b"", fsync=False)
    _wait_exit(procs, grace_s, poll, pending)
    for proc in procs:
        proc.close()


def _save_sim_stats(sup: Supervisor) -> dict[str, Any] | None:
    if sup.sim is None:
        return None
    stats = sup.sim.final_stats() if sup.sim.alive() else sup.sim.last_stats
    if stats is None:
        log.error("no /sim/stats could be read: sim_stats.json not written")
    else:
        write_critical_json(sup.run_dir / SIM_STATS_FILE, stats)
    sup.sim.stop()
    return stats


def _stop_event(run_dir: Path) -> dict[str, Any] | None:
    if not is_stopped(run_dir):
        return None
    try:
        return dict(read_stop(run_dir)["payload"])
    except NoreError as exc:
        return {"reason_code": exc.reason_code.value, "component": "STOP.flag", "detail": exc.detail}


def finish_run(sup: Supervisor, env: RoleEnv, ending: Ending) -> int:
    """Stop the roles, write the final files, print the summary; returns the exit code."""
    ending.ended_ms = env.clock.now_ms()
    ending.wall_ended = time.monotonic()
    try:
        stop_roles(sup, ending)
    except KeyboardInterrupt:  # a second Ctrl+C: no more waiting
        for proc in sup.procs.values():
            proc.kill()
    if ending.heartbeat is not None:
        ending.heartbeat.beat("STOPPING", force=True)
        ending.heartbeat.close()
    if ending.watch is not None:
        _journal_poller(sup, ending)()
        _close_watch(sup, ending.watch)
    ending.final_metrics(sup.role_view())
    ending.close_views()
    sim_stats = _save_sim_stats(sup)
    stop_event = _stop_event(sup.run_dir)
    if ending.suspend is not None:
        stop_event = ending.suspend.cause(sup.run_dir, stop_event)
    counts = ending.queues.counts() if ending.queues is not None else {}
    code = EXIT_ERROR if ending.internal_error else EXIT_STOP if stop_event else EXIT_CLEAN
    sup.write_status("ended", ended_by=ending.ended_by, stop=stop_event, exit_code=code, queue_lines=counts)
    for line in summary_lines(sup, env, ending, stop_event, counts, sim_stats, code):
        sup.say(line)
        log.info("summary: %s", line)
    return code


def _hms(ms: float) -> str:
    seconds = int(ms // 1000)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def summary_lines(
    sup: Supervisor,
    env: RoleEnv,
    ending: Ending,
    stop_event: dict[str, Any] | None,
    counts: dict[str, int],
    sim_stats: dict[str, Any] | None,
    code: int,
) -> list[str]:
    """The summary printed at the end of a run."""
    ran_ms = (ending.ended_ms or env.clock.now_ms()) - env.clock.start_ms
    wall_ms = (ending.wall_ended - ending.wall_start) * 1000
    stopping_s = time.monotonic() - ending.wall_ended
    lines = [
        f"run {env.ctx.run_id} ended: {ending.ended_by or 'before the roles started'}",
        f"duration: {_hms(ran_ms)} run clock ({_hms(wall_ms)} wall, speed {env.clock.speed:g}); "
        f"ending the roles took {stopping_s:.1f} s",
    ]
    if stop_event is not None:
        lines.append(
            f"STOP: {stop_event.get('reason_code')} from {stop_event.get('component')}: {stop_event.get('detail')}"
        )
        if stop_event.get("followed_by"):
            lines.append(f"  then (a consequence): {stop_event['followed_by']}")
    else:
        lines.append("STOP: none")
    if ending.internal_error:
        lines.append(f"internal error: {ending.internal_error} (details in the supervisor log)")
    restarts = {r: len(p.restarts) for r, p in sup.procs.items() if p.restarts}
    lines.append(f"restarts: {', '.join(f'{r} {n}' for r, n in restarts.items()) or 'none'}")
    if counts:
        lines.append("queues: " + ", ".join(f"{q} {n}" for q, n in counts.items()))
    if sim_stats is not None:
        lines.append(
            f"simulator: {sim_stats.get('requests_total')} requests, "
            f"{sim_stats.get('violations_total')} order/account violations"
        )
    lines.append(f"run_dir: {sup.run_dir}")
    lines.append(f"exit code: {code}")
    return lines
