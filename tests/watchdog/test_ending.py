"""The graceful ending accounts for every input: a role killed while the run ends is restarted, drains its
inputs and exits; every order_intent still gets its order_result and verify passes; beyond the restart
limit it is a STOP (issue 13)."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from minibot.journal.stop import read_stop
from minibot.journal.verify import verify_path
from minibot.runlayout import role_shutdown_file
from tests.watchdog import runproc
from tests.watchdog.runproc import (
    NoreRun,
    queue_events,
)

pytestmark = pytest.mark.process


def _kill_execution_role_once_the_ending_began(run: NoreRun) -> tuple[Path, int, int]:
    """(run folder, killed pid, exit code of the run): execution_role is killed after the ending asked market
    data to end first, while execution_role, the last stage four stages away, has not been asked yet."""
    try:
        run_dir = run.run_dir()
        runproc.wait_for_every_role(run_dir)
        old = runproc.role_pid(run_dir, "execution_role")
        assert old is not None
        runproc.wait_until(lambda: role_shutdown_file(run_dir, "market_role").exists(), 120, "the ending's first stage")
        assert not role_shutdown_file(run_dir, "execution_role").exists()
        psutil.Process(old).kill()
        return run_dir, old, run.wait(120)
    finally:
        run.kill()


def test_execution_role_killed_during_the_ending_is_restarted_and_answers_every_intent(tmp_path: Path) -> None:
    run = NoreRun(tmp_path / "var", "--sim", "--speed", "20", "--duration", "10m")
    run_dir, old, code = _kill_execution_role_once_the_ending_began(run)
    assert code == 0, run.output
    assert "ended: duration reached" in run.output and "STOP: none" in run.output
    execution = runproc.status(run_dir)["roles"]["execution_role"]
    assert execution["starts"] == 2 and len(execution["restarts"]) == 1, execution
    assert execution["restarts"][0]["old_pid"] == old and execution["exit_code"] == 0, execution
    new_pid = runproc.role_pid(run_dir, "execution_role")
    assert new_pid != old and new_pid in runproc.heartbeat_pids(run_dir)["execution_role"]
    beats = [e["payload"] for e in runproc.queue_events(run_dir, "health") if e["payload"]["role"] == "execution_role"]
    assert beats[-1]["state"] == "STOPPING" and beats[-1]["pid"] == new_pid, "the new process drained and ended"
    assert verify_path(run_dir / "queues").ok
    runproc.assert_every_intent_answered_once(run_dir)
    verify_code, verdict = runproc.nore_verify(run_dir)
    assert verify_code == 0 and verdict["verdict"] == "PASS", verdict["reasons"]
    # The verdict carries the pipeline latency (wall clock, from the timing events) apart from the modelled
    # order latency (market time): every order arrived at or after its decision + execution.latency_ms.
    latency = verdict["metrics"]["latency"]
    pipeline, modelled = latency["pipeline_ms"], latency["modelled_ms"]
    timed = [e for e in queue_events(run_dir, "timing") if e["payload"]["kind"] == "tick_to_fill"]
    assert pipeline["clock"] == "wall" and pipeline["count"] == len(timed)
    if timed:
        assert 0 <= pipeline["p50"] <= pipeline["p95"] <= pipeline["p99"] <= pipeline["max"]
    assert modelled["clock"] == "market" and modelled["configured"] == 100
    assert modelled["observed"]["count"] >= 1 and modelled["observed"]["p50"] >= 100


def test_a_role_killed_during_the_ending_beyond_the_restart_limit_is_a_stop(tmp_path: Path) -> None:
    config = runproc.write_config(tmp_path, watchdog={"restart_max": 0})
    run = NoreRun(tmp_path / "var", "--config", str(config), "--sim", "--speed", "20", "--duration", "5m")
    run_dir, _, code = _kill_execution_role_once_the_ending_began(run)
    assert code == 3, run.output  # not restarted and not silently dropped: a STOP that accounts for it
    stop = read_stop(run_dir)["payload"]
    assert stop["reason_code"] == "ROLE_RESTART_LIMIT" and "execution_role" in stop["detail"], stop
    assert runproc.status(run_dir)["roles"]["execution_role"]["starts"] == 1
    verify_code, verdict = runproc.nore_verify(run_dir)
    assert verify_code == 1 and any(r["code"] == "STOP_NOT_INJECTED" for r in verdict["reasons"]), verdict
