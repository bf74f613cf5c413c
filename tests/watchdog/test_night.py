"""The acceptance night in CI: the full 7-hour duration at --speed 60 (about 7 minutes) on the synthetic
market, through the real processes and queues, ends cleanly and `nore verify` says PASS (R-N1, R-Q5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.journal.atomic import read_critical_json
from tests.watchdog.runproc import ROLES, NoreRun, nore_verify, run_to_a_clean_end, status

pytestmark = pytest.mark.process

SEVEN_HOURS_MS = 7 * 3600 * 1000


@pytest.mark.slow
def test_full_seven_hour_night_at_speed_60_passes_verify(tmp_path: Path) -> None:
    # The shipped config, untouched: a 7-hour night compressed into ~7 minutes.
    run = NoreRun(tmp_path / "var", "--sim", "--speed", "60")  # duration: 7 h
    run_dir = run_to_a_clean_end(run, 600)
    assert not (run_dir / "STOP.flag").exists()
    doc = read_critical_json(run_dir / "run.json")
    assert doc["config"]["duration_ms"] == SEVEN_HOURS_MS and doc["clock"]["speed"] == 60.0
    roles = status(run_dir)["roles"]
    for role in ROLES:  # each ran the whole night, or was restored by the watchdog and then did
        entry = roles[role]
        assert entry["starts"] == len(entry["restarts"]) + 1 and entry["exit_code"] == 0, (role, entry)
    metrics = read_critical_json(run_dir / "metrics.json")
    assert metrics["final"] and metrics["elapsed_s"] >= SEVEN_HOURS_MS / 1000
    assert metrics["counts"]["market_ticks"] > 100_000
    code, verdict = nore_verify(run_dir)
    assert code == 0 and verdict["verdict"] == "PASS", verdict["reasons"]
