"""A recorded run for the report and dashboard tests: a real `nore run --sim`, made once per test session.

`nore run --sim --duration 3m --speed 60` runs the whole system (supervisor, every role process, the
embedded simulator on 127.0.0.1) for a few wall-clock seconds; the folder it leaves is what a trader finds in
the morning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from minibot.config.loader import load_config

RUN_TIMEOUT_S = 300
_made: dict[str, Path] = {}


def nore(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real `nore` command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "minibot", *args], capture_output=True, text=True, timeout=timeout)


def recorded_run(factory: pytest.TempPathFactory) -> Path:
    """The run folder of one short simulated night (made on first use, then shared by the session).

    The shipped config, with a metrics snapshot every 30 s of run clock so the short run has several.
    """
    if "run" not in _made:
        var = factory.mktemp("recorded")
        config = load_config(None)
        config["metrics"]["snapshot_interval_s"] = 30
        config_path = var / "nore.json"
        config_path.write_bytes(orjson.dumps(config))
        args = ("run", "--sim", "--config", str(config_path), "--duration", "3m", "--speed", "60", "--var", str(var))
        done = nore(*args, timeout=RUN_TIMEOUT_S)
        runs = sorted((var / "runs").iterdir()) if (var / "runs").is_dir() else []
        assert runs, f"nore run made no run folder: {done.stdout[-2000:]} {done.stderr[-2000:]}"
        _made["run"] = runs[0]
    return _made["run"]


def copy_run(run: Path, dest: Path) -> Path:
    """A private copy of a run folder (tests that add to a run must not change the shared one)."""
    target = dest / run.name
    shutil.copytree(run, target)
    return target
