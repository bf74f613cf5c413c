"""`<run>/control/console_closed.json`: the record that the console ended the run (closed window, logoff,
shutdown, Ctrl+Break). Written by the supervisor's console control handler (minibot.watchdog.hostguard),
read by the ending and by `nore verify`, which names it (RUN_ENDED_BY_CONSOLE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.reasons import NoreError
from minibot.runlayout import CONSOLE_RECORD

ENDED_BY_CONSOLE = "console closed"


def write_console_record(run_dir: Path, event: str, wall_s: float) -> str:
    """Record `event` (e.g. CTRL_CLOSE_EVENT); returns the ending's text, `console closed (EVENT)`."""
    ended_by = f"{ENDED_BY_CONSOLE} ({event})"
    path = Path(run_dir) / CONSOLE_RECORD
    path.parent.mkdir(exist_ok=True)
    write_critical_json(path, {"event": event, "ended_by": ended_by, "wall_s": wall_s}, fsync=True)
    return ended_by


def console_ending(run_dir: Path) -> dict[str, Any] | None:
    """The console event that ended the run, or None. A damaged record still names the console."""
    path = Path(run_dir) / CONSOLE_RECORD
    if not path.exists():
        return None
    try:
        return dict(read_critical_json(path))
    except (OSError, NoreError) as exc:
        return {"event": "unknown", "ended_by": ENDED_BY_CONSOLE, "damaged": str(exc)}
