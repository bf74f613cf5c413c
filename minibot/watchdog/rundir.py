"""The run directory and run.json: where a run lives and the record of exactly how it was started.

`<var>/runs/<run_id>/` with `run_id` = UTC `YYYYMMDD_HHMMSS`. A run never writes into another run's
folder: the folder is created with `exist_ok=False`, and if that second's id is taken we wait for the
next second. run.json is a critical JSON file (its own sha256), written once before any role starts.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from minibot import __version__
from minibot.clock import RunClock
from minibot.config.views import QueuesConfig
from minibot.ids import cmdline_hash, new_run_id
from minibot.journal.atomic import write_critical_json
from minibot.journal.layout import QueuePaths
from minibot.runlayout import RUN_FILE

RUN_ID_ATTEMPTS = 5
KEY_PACKAGES = (
    "orjson",
    "fastjsonschema",
    "jsonschema",
    "aiohttp",
    "portalocker",
    "psutil",
    "typer",
    "numpy",
    "prometheus-client",
)


def create_run_dir(var: Path) -> tuple[str, Path]:
    """Create `<var>/runs/<run_id>/` (fresh, never reused); returns (run_id, path)."""
    runs = Path(var) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for _ in range(RUN_ID_ATTEMPTS):
        run_id = new_run_id()
        path = runs / run_id
        try:
            path.mkdir(exist_ok=False)
        except FileExistsError:
            time.sleep(1.05 - (time.time() % 1.0))  # the next second gives the next id
            continue
        return run_id, path.resolve()
    raise FileExistsError(f"{runs}: no fresh run id after {RUN_ID_ATTEMPTS} seconds")


def versions() -> dict[str, str | None]:
    """Python, minibot and the key dependencies (None when a package is not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version(), "minibot": __version__}
    for name in KEY_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def platform_info() -> dict[str, str]:
    """Where the run ran."""
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def run_document(
    run_id: str,
    command_line: str,
    config: Mapping[str, Any],
    clock: RunClock,
    anchor_unix_s: float,
    sim: Mapping[str, Any] | None,
    supervisor: Mapping[str, Any],
    host: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """The content of run.json (roles read run_id, cmdline_hash, config and clock from it). `host`: what the
    supervisor holds on the machine (`keep_awake`, `quickedit_off`, `console_handler`; all False off Windows)."""
    return {
        "run_id": run_id,
        "cmdline_hash": cmdline_hash(command_line),
        "command_line": command_line,
        "config": dict(config),
        "clock": {
            "start_ms": clock.start_ms,
            "speed": clock.speed,
            "anchor_unix_s": anchor_unix_s,
            "anchor_perf_ns": clock.anchor_perf_ns,
        },
        "versions": versions(),
        "platform": platform_info(),
        "sim": dict(sim) if sim is not None else None,
        "supervisor": dict(supervisor),
        "host": dict(host or {}),
    }


def write_run_file(run_dir: Path, doc: Mapping[str, Any]) -> None:
    """Write run.json atomically with its sha256 (R-P3)."""
    write_critical_json(Path(run_dir) / RUN_FILE, dict(doc))


def create_queues(run_dir: Path, queues_cfg: QueuesConfig) -> None:
    """Every configured queue folder with its R-A2 files, so even an empty queue is complete."""
    base = Path(run_dir) / queues_cfg.base_dir
    for name in queues_cfg.names:
        QueuePaths.of(base, name).create()
