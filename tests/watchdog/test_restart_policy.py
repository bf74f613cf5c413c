"""Issue 13 defect 4: the restart the limit refuses is not counted as a restart (status.json, summary)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from minibot.clock import RunClock
from minibot.config.loader import load_config
from minibot.config.views import WatchdogConfig
from minibot.reasons import ReasonCode
from minibot.watchdog.procs import RoleProcess
from minibot.watchdog.restarts import Supervision

CFG = replace(
    WatchdogConfig.from_config(load_config()),
    silent_after_s=60.0,
    restart_backoff_s=1.0,
    restart_backoff_max_s=60.0,
    restart_max=2,
    restart_window_s=1800.0,
)


def test_refused_restart_is_not_counted(tmp_path: Path) -> None:
    clock = RunClock.start_now()
    proc = RoleProcess("risk_role", tmp_path, tmp_path / "logs", {}, clock.now_ms)
    seen: list[dict[str, Any]] = []
    supervision = Supervision({"risk_role": proc}, CFG, clock, None, lambda _p, entry: seen.append(entry))  # type: ignore[arg-type]
    assert supervision._schedule(proc, 0.0, "exited with code -9", -9) is None
    assert supervision._schedule(proc, 0.0, "exited with code -9", -9) is None
    finding = supervision._schedule(proc, 0.0, "exited with code -9", -9)
    assert finding is not None and finding[0] == ReasonCode.ROLE_RESTART_LIMIT
    assert len(proc.restarts) == len(seen) == 2
    assert proc.status()["restart_count"] == 2
    assert proc.finished
