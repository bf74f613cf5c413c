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

import pytest

RUN_TIMEOUT_S = 300
_made: dict[str, Path] = {}


def nore(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real `nore` command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "minibot", *args], capture_output=True, text=True, timeout=timeout)


def recorded_run(factory: pytest.TempPathFactory) -> Path:
    """The run folder of one short simulated night (made on first use, then shared by the session)."""
    if "run" not in _made:
        var = factory.mktemp("recorded")
        done = nore("run", "--sim", "--duration", "3m", "--speed", "60", "--var", str(var), timeout=RUN_TIMEOUT_S)
        runs = sorted((var / "runs").iterdir()) if (var / "runs").is_dir() else []
        assert runs, f"nore run made no run folder: {done.stdout[-2000:]} {done.stderr[-2000:]}"
        _made["run"] = runs[0]
    return _made["run"]


def copy_run(run: Path, dest: Path) -> Path:
    """A private copy of a run folder (tests that add to a run must not change the shared one)."""
    target = dest / run.name
    shutil.copytree(run, target)
    return target
