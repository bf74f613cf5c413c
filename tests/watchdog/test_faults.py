"""Fault scenarios end in the right STOP: a Binance outage past the threshold (T4), a corrupted queue line (T2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minibot.journal.atomic import file_lock
from minibot.journal.layout import QueuePaths
from minibot.journal.stop import read_stop
from minibot.journal.verify import verify_path
from tests.watchdog.runproc import NoreRun, heartbeat_pids, nore_verify, wait_until

pytestmark = pytest.mark.process

CORE = ["market_role", "strategy_role", "risk_role", "execution_role"]


def test_binance_outage_longer_than_the_threshold_stops_the_run(tmp_path: Path) -> None:
    # Threshold 180 s of run clock; the outage starts 2 min in (run clock, --speed 60) and outlasts the 1 h run,
    # so however slowly a loaded machine brings the roles up and down, the run ends inside it.
    scenario = tmp_path / "outage.json"
    scenario.write_text(
        json.dumps(
            {
                "version": 1,
                "name": "long-outage",
                "faults": [{"kind": "outage", "at_ms": 120_000, "duration_ms": 7_200_000, "mode": "refuse"}],
            }
        )
    )
    run = NoreRun(tmp_path / "var", "--sim", "--speed", "60", "--duration", "1h", "--scenario", str(scenario))
    try:
        code = run.wait(120)
    finally:
        run.kill()
    run_dir = run.run_dir()
    assert code == 3, run.output
    stop = read_stop(run_dir)["payload"]
    assert stop["reason_code"] == "BINANCE_UNREACHABLE", stop
    assert "STOP: BINANCE_UNREACHABLE" in run.output
    # The run ended inside the outage, when the simulator answers nothing: the last copy, marked as such.
    sim_stats = json.loads((run_dir / "sim_stats.json").read_text())["data"]
    assert "nore_not_final" in sim_stats and sim_stats["violations_total"] == 0
    assert verify_path(run_dir / "queues").ok
    code, verdict = nore_verify(run_dir)
    assert code == 1 and verdict["verdict"] == "FAIL", verdict["reasons"]
    assert any("BINANCE_UNREACHABLE" in f"{r['code']} {r['detail']}" for r in verdict["reasons"]), verdict["reasons"]


def test_corrupted_queue_line_stops_the_run_with_a_t2_reason(tmp_path: Path) -> None:
    run = NoreRun(tmp_path / "var", "--sim", "--speed", "10", "--duration", "7h")
    try:
        run_dir = run.run_dir()
        wait_until(lambda: set(CORE) <= set(heartbeat_pids(run_dir)), 60, "heartbeats of the core roles")
        paths = QueuePaths.of(run_dir / "queues", "market_ticks")
        inbox = paths.folder / "inbox.jsonl"
        wait_until(lambda: inbox.stat().st_size > 0, 60, "market ticks")
        with file_lock(paths.lock), inbox.open("ab") as fh:  # a whole line, written under the producers' lock
            fh.write(b"sha256:" + b"0" * 64 + b':{"not":"the hashed bytes"}\n')
        code = run.wait(60)
    finally:
        run.kill()
    assert code == 3, run.output
    stop = read_stop(run_dir)["payload"]
    assert stop["reason_code"] in ("LINE_HASH_MISMATCH", "LINE_BAD_PREFIX"), stop
    assert f"STOP: {stop['reason_code']}" in run.output
    # Whoever reads the line first STOPs: a consumer dead-letters it; the supervisor's metrics reader (which
    # may be first now that no role is rung for a quiet tick) names the line in the STOP instead.
    found_by_metrics = stop["component"] == "watchdog_role" and "inbox.jsonl:" in stop["detail"]
    assert found_by_metrics or (paths.folder / "deadletter.jsonl").stat().st_size > 0, stop
    report = verify_path(run_dir / "queues")
    assert report.problems and {p.reason_code for p in report.problems} == {"LINE_HASH_MISMATCH"}
    code, verdict = nore_verify(run_dir)
    assert code == 1 and any("LINE_HASH_MISMATCH" in f"{r['code']} {r['detail']}" for r in verdict["reasons"])
