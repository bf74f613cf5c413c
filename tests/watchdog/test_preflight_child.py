"""The preflight in its own process (minibot/watchdog/preflight_child.py): what the child answers becomes
what the probe raised in process, and a child that does not answer in time is killed with its tree."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from minibot.reasons import NoreError, ReasonCode
from minibot.runlayout import EXCHANGE_INFO_FILE
from minibot.watchdog.preflight_child import (
    PreflightFailed,
    PreflightResult,
    answer_error,
    answer_ok,
    read_answer,
    run_preflight_child,
)
from tests.roles.market_harness import make_run


def test_a_passed_preflight_reads_back_as_it_was_measured() -> None:
    result = PreflightResult(1_700_000_000_123, {"/api/v3/ping": 1.5}, ["BTCUSDT", "ETHUSDT"])
    assert read_answer(answer_ok(result).decode(), 0, "") == result


@pytest.mark.parametrize("reason", [ReasonCode.BINANCE_UNREACHABLE, ReasonCode.BINANCE_BANNED])
def test_a_failed_preflight_is_a_preflight_stop_with_its_reason(reason: ReasonCode) -> None:
    line = answer_error(PreflightFailed("http://x: connection refused", reason)).decode()
    with pytest.raises(PreflightFailed) as caught:
        read_answer(line, 1, "")
    assert caught.value.reason_code is reason and caught.value.detail == "http://x: connection refused"


def test_another_error_keeps_its_own_reason_and_is_not_a_preflight_stop() -> None:
    line = answer_error(NoreError("exchange_info.json: os.replace failed", ReasonCode.FILE_REPLACE_FAILED)).decode()
    with pytest.raises(NoreError) as caught:
        read_answer(line, 1, "")
    assert not isinstance(caught.value, PreflightFailed)
    assert caught.value.reason_code is ReasonCode.FILE_REPLACE_FAILED
    assert caught.value.detail == "exchange_info.json: os.replace failed"


@pytest.mark.parametrize(
    ("line", "code"),
    [("", 1), ("Traceback (most recent call last):", 1), ('{"ok": {}}', 3), ('{"error": {}}', 0)],
)
def test_no_answer_or_one_that_does_not_match_the_exit_code_is_an_internal_error(line: str, code: int) -> None:
    with pytest.raises(NoreError) as caught:
        read_answer(line, code, "MemoryError")
    assert not isinstance(caught.value, PreflightFailed)
    assert caught.value.reason_code is ReasonCode.INTERNAL_ERROR
    assert caught.value.detail == f"the preflight process exited with code {code} without an answer: MemoryError"


@pytest.mark.process
@pytest.mark.timeout(120)
def test_the_child_probes_the_simulator_and_writes_exchange_info(tmp_path: Path) -> None:
    run = make_run(tmp_path, 10.0)
    try:
        (run.run_dir / "logs").mkdir()
        result = run_preflight_child(run.run_dir, run.run_dir / "logs", dict(os.environ), 60.0)
    finally:
        run.sim.stop()
    assert result.symbols == ["BTCUSDT", "ETHUSDT"]
    assert set(result.latencies_ms) == {"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo"}
    assert (run.run_dir / EXCHANGE_INFO_FILE).is_file()
    # its requests are in the run's request journal as the watchdog's, and its log is its own
    assert [r["payload"]["path"] for r in run.requests()] == ["/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo"]
    assert {r["payload"]["role"] for r in run.requests()} == {"watchdog_role"}
    assert "preflight GET /api/v3/exchangeInfo" in (run.run_dir / "logs" / "preflight.log").read_text()


@pytest.mark.process
@pytest.mark.timeout(120)
def test_a_child_without_an_answer_in_time_is_killed_and_the_run_stops_unreachable(tmp_path: Path) -> None:
    # exchangeInfo answers 30 s late (the client waits up to 60 s): the supervisor waits 3 s, then kills.
    fault = {"kind": "latency", "at_ms": 0, "duration_ms": 3_600_000, "delay_ms": 30_000, "paths": ["/api/v3/ping"]}
    run = make_run(tmp_path, 1.0, {"version": 1, "faults": [fault]}, {"rest_timeout_s": 60})
    try:
        (run.run_dir / "logs").mkdir()
        with pytest.raises(PreflightFailed, match="the preflight had no answer within 3 s") as caught:
            run_preflight_child(run.run_dir, run.run_dir / "logs", dict(os.environ), 3.0)
    finally:
        run.sim.stop()
    assert caught.value.reason_code is ReasonCode.BINANCE_UNREACHABLE
    left = [p for p in psutil.Process().children(recursive=True) if "minibot.watchdog.preflight" in p.cmdline()]
    assert left == []
    assert not (run.run_dir / EXCHANGE_INFO_FILE).exists()
