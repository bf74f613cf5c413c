"""The summary `nore run` prints (and logs) at the end of a run: how it ended, how long it ran, the STOP,
restarts, queue sizes, what the simulator saw, where the run folder is, the exit code."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from minibot.roles.process import RoleEnv

if TYPE_CHECKING:
    from minibot.watchdog.ending import Ending, EndingContext


def _hms(ms: float) -> str:
    seconds = int(ms // 1000)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def summary_lines(
    run: EndingContext,
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
    if ending.unwritten:
        lines.append(f"not written, the disk was full: {', '.join(ending.unwritten)}")
    restarts = {r: len(p.restarts) for r, p in run.procs.items() if p.restarts}
    lines.append(f"restarts: {', '.join(f'{r} {n}' for r, n in restarts.items()) or 'none'}")
    if counts:
        lines.append("queues: " + ", ".join(f"{q} {n}" for q, n in counts.items()))
    if sim_stats is not None:
        lines.append(
            f"simulator: {sim_stats.get('requests_total')} requests, "
            f"{sim_stats.get('violations_total')} order/account violations"
        )
    lines.append(f"run_dir: {run.run_dir}")
    lines.append(f"exit code: {code}")
    return lines
