"""Issue 13 defect 4: a run on a small disk STOPs DISK_LOW before any line is torn; a disk too small to
start on is refused with exit 2 before anything is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from minibot.journal.stop import read_stop
from tests.tmpfs import small_fs
from tests.watchdog.runproc import NoreRun, write_config

pytestmark = pytest.mark.process

RUN_TIMEOUT_S = 240


def test_a_filling_disk_ends_in_a_clean_disk_low_stop(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", watchdog={"disk_min_free_mb": 1})
    with small_fs(tmp_path / "fs", "4m") as fs:
        run = NoreRun(fs / "var", "--config", str(config), "--sim", "--speed", "60", "--duration", "60m", "--quiet")
        run_dir = run.run_dir()
        assert run.wait(RUN_TIMEOUT_S) == 3, run.output
        assert read_stop(run_dir)["payload"]["reason_code"] == "DISK_LOW"
        journal = subprocess.run(
            [sys.executable, "-m", "minibot", "journal", "verify", str(run_dir / "queues")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert journal.returncode == 0, journal.stdout  # every line whole: the STOP came before the disk ran out
        verdict = subprocess.run(
            [sys.executable, "-m", "minibot", "verify", str(run_dir)], capture_output=True, text=True, timeout=120
        )
        assert verdict.returncode == 1 and "STOP DISK_LOW" in verdict.stdout, verdict.stdout


def test_with_the_bound_off_a_full_disk_still_ends_in_a_disk_stop_with_no_torn_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", watchdog={"disk_min_free_mb": 0})
    with small_fs(tmp_path / "fs", "4m") as fs:
        run = NoreRun(fs / "var", "--config", str(config), "--sim", "--speed", "60", "--duration", "60m", "--quiet")
        run_dir = run.run_dir()
        assert run.wait(RUN_TIMEOUT_S) == 3, run.output
        stop = read_stop(run_dir)["payload"]  # raised from the space the run had set aside for it
        assert stop["reason_code"] == "DISK_LOW" and "No space left" in stop["detail"], stop
        assert not (run_dir / "STOP.reserve").exists()
        journal = subprocess.run(
            [sys.executable, "-m", "minibot", "journal", "verify", str(run_dir / "queues")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "LINE_TORN" not in journal.stdout and "LINE_HASH_MISMATCH" not in journal.stdout, journal.stdout


def test_a_disk_too_small_to_start_on_is_refused(tmp_path: Path) -> None:
    with small_fs(tmp_path / "fs", "1m") as fs:
        run = NoreRun(fs / "var", "--sim", "--duration", "60s")
        assert run.wait(60) == 2, run.output
        assert "watchdog.disk_min_free_mb: only 1 MB free" in run.output
        assert list(fs.iterdir()) == []
