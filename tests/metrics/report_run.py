"""A recorded run for the report and dashboard tests: a real `nore run --sim`, made once per test session.

`nore run --sim --speed 60` runs the whole system (supervisor, every role process, the embedded simulator
on 127.0.0.1); the folder it leaves is what a trader finds in the morning. The run is not given a short
fixed duration: on a loaded machine the roles can take most of a short run's few wall seconds to start, and
such a run leaves no signal or trade. It runs until its folder holds what the report and dashboard tests
look at (signals, fills, tick->fill timings, several metrics snapshots), then the test ends it cleanly with
the operator stop file; its `--duration` is only the bound.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from minibot.config.loader import load_config
from minibot.journal.layout import INBOX
from minibot.journal.reader import iter_lines
from minibot.runlayout import OPERATOR_STOP_FILE

RUN_TIMEOUT_S = 300
BOUND = "2h"  # run clock: 120 wall seconds at speed 60, the most the run may take to show what is needed
NEEDED_LINES = {"signals": 1, "fills": 1, "timing": 1}  # queue -> lines the recorded run must hold
NEEDED_SNAPSHOTS = 6  # three minutes of run clock at one snapshot every 30 s
_made: dict[str, Path] = {}


def nore(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real `nore` command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "minibot", *args], capture_output=True, text=True, timeout=timeout)


def _lines(folder: Path, stem: str) -> int:
    return sum(1 for _ in iter_lines(folder, stem)) if folder.is_dir() else 0


def _run_folder(var: Path) -> Path | None:
    runs = sorted((var / "runs").iterdir()) if (var / "runs").is_dir() else []
    return runs[0] if runs else None


def _has_what_is_needed(run: Path) -> bool:
    queues = run / "queues"
    if any(_lines(queues / queue, INBOX) < n for queue, n in NEEDED_LINES.items()):
        return False
    return _lines(run / "metrics", "snapshots") >= NEEDED_SNAPSHOTS


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
        args = ("run", "--sim", "--config", str(config_path), "--duration", BOUND, "--speed", "60", "--var", str(var))
        log = var / "nore.out"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "minibot", *args], stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while proc.poll() is None and time.monotonic() < deadline:
                run = _run_folder(var)
                if run is not None and _has_what_is_needed(run):
                    stop_file = run / OPERATOR_STOP_FILE
                    stop_file.parent.mkdir(parents=True, exist_ok=True)
                    stop_file.write_bytes(b"")  # a clean end, as an operator asks for it
                    break
                time.sleep(0.2)
            code = proc.wait(timeout=max(deadline - time.monotonic(), 60))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        run = _run_folder(var)
        output = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        assert run is not None, f"nore run made no run folder: {output}"
        assert code == 0 and _has_what_is_needed(run), f"the run ended ({code}) without {NEEDED_LINES}: {output}"
        _made["run"] = run
    return _made["run"]


def copy_run(run: Path, dest: Path) -> Path:
    """A private copy of a run folder (tests that add to a run must not change the shared one)."""
    target = dest / run.name
    shutil.copytree(run, target)
    return target
