"""`nore verify`: PASS on a clean run; FAIL with the specific reason for each defect; exit codes; --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minibot.cli import app
from minibot.contracts.codec import split_line
from minibot.ids import cmdline_hash
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.stop import stop
from minibot.metrics.verify import verify_run
from minibot.reasons import ReasonCode, VerifyCode

from .runbuild import END, RUN_ID, T0, RunBuilder, finish, populate

runner = CliRunner()


def codes(run_dir: Path) -> dict[str, list[str]]:
    """Reason code -> details of a verification."""
    out: dict[str, list[str]] = {}
    for r in verify_run(run_dir).reasons:
        out.setdefault(r.code, []).append(r.detail)
    return out


@pytest.fixture()
def clean(tmp_path: Path) -> RunBuilder:
    b = RunBuilder(tmp_path / "var")
    populate(b)
    finish(b)
    return b


def test_clean_run_passes_with_exit_0_and_json(clean: RunBuilder) -> None:
    result = runner.invoke(app, ["verify", str(clean.run_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("PASS") and "pnl: +8.98 USDT" in result.output
    doc = json.loads(runner.invoke(app, ["verify", "--json", str(clean.run_dir)]).output)
    assert doc["verdict"] == "PASS" and doc["reasons"] == [] and doc["run_id"] == RUN_ID
    m = doc["metrics"]
    assert m["counts"]["market_ticks"] == 5 and m["counts"]["fills"] == 2
    assert m["binance"]["latency_ms"]["p95"] == 13.0  # rank 48 of 50: the first 13 ms sample
    assert m["pnl"]["trips"] == 1 and m["stops"]["count"] == 0
    assert doc["restarts"]["market_role"] == {"seen_in_heartbeats": 0, "by_supervisor": 0}


def test_tampered_line(clean: RunBuilder) -> None:
    inbox = clean.ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
    inbox.write_bytes(inbox.read_bytes().replace(b'"bid":49000.0', b'"bid":48000.0', 1))
    found = codes(clean.run_dir)
    assert any("market_ticks/inbox.jsonl:3" in d for d in found[ReasonCode.LINE_HASH_MISMATCH.value])
    result = runner.invoke(app, ["verify", str(clean.run_dir)])
    assert result.exit_code == 1 and "FAIL" in result.output and "LINE_HASH_MISMATCH" in result.output


def test_foreign_cmdline_hash(clean: RunBuilder) -> None:
    other = RunContext(
        clean.run_dir, RUN_ID, cmdline_hash("python -m minibot run --other"), lambda: END, scratch_queues()
    )
    producer = other.producer("timing", "execution_role")
    producer.publish([producer.event("timing", {"role": "execution_role", "kind": "tick_to_fill", "latency_ms": 1.0})])
    producer.close()
    found = codes(clean.run_dir)
    assert list(found) == [ReasonCode.CMDLINE_HASH_MISMATCH.value]
    assert "timing/inbox.jsonl:3" in found[ReasonCode.CMDLINE_HASH_MISMATCH.value][0]


def test_stop_not_injected_fails_and_injected_passes(tmp_path: Path) -> None:
    for injected in (False, True):
        b = RunBuilder(tmp_path / str(injected))
        populate(b)
        b.now = T0 + 90_000
        code = ReasonCode.INJECTED_FAULT
        stop(b.ctx, source="cli", component="operator", reason_code=code, detail="drill", injected=injected)
        finish(b)
        found = codes(b.run_dir)
        if injected:
            assert found == {}
        else:
            assert list(found) == [VerifyCode.STOP_NOT_INJECTED.value]
            assert "INJECTED_FAULT by operator" in found[VerifyCode.STOP_NOT_INJECTED.value][0]


def test_order_requests_in_the_request_journal(clean: RunBuilder) -> None:
    clean.request(END, "/api/v3/order", 5.0, status=405)
    clean.request(END, "/api/v3/ping", 5.0, query="timestamp=1&signature=ab12")
    clean.close()
    found = codes(clean.run_dir)[ReasonCode.ORDER_ENDPOINT_CALLED.value]
    assert len(found) == 2
    assert "/api/v3/order is not a public market-data endpoint" in found[0]
    assert "signed-request parameters ['signature', 'timestamp']" in found[1]


def test_simulator_violation(clean: RunBuilder) -> None:
    stats = {"requests_total": 51, "violations_total": 0, "violations": []}
    write_critical_json(clean.run_dir / "sim_stats.json", stats)
    assert codes(clean.run_dir) == {}
    stats = {**stats, "violations_total": 1, "violations": [{"method": "POST", "path": "/api/v3/order"}]}
    write_critical_json(clean.run_dir / "sim_stats.json", stats)
    found = codes(clean.run_dir)
    assert list(found) == [ReasonCode.ORDER_ENDPOINT_CALLED.value]
    assert "/api/v3/order" in found["ORDER_ENDPOINT_CALLED"][0]


def test_pnl_in_metrics_json_differs_from_the_fills(clean: RunBuilder) -> None:
    path = clean.run_dir / "metrics.json"
    doc = read_critical_json(path)
    doc["pnl"]["realized_pnl"] += 0.01
    write_critical_json(path, doc)
    found = codes(clean.run_dir)
    assert list(found) == [VerifyCode.METRICS_MISMATCH.value]
    assert found["METRICS_MISMATCH"][0].startswith("pnl.realized_pnl: metrics.json has 8.98999")


def test_torn_or_missing_or_stale_metrics_json(clean: RunBuilder) -> None:
    path = clean.run_dir / "metrics.json"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert list(codes(clean.run_dir)) == [ReasonCode.NON_ATOMIC_WRITE.value]
    path.unlink()
    assert list(codes(clean.run_dir)) == [VerifyCode.METRICS_MISSING.value]
    path.write_bytes(data)
    clean.tick(END, 51000.0, 51002.0)  # a tick metrics.json does not cover
    clean.close()
    found = codes(clean.run_dir)
    assert found == {VerifyCode.METRICS_INCOMPLETE.value: [f"{path} covers 5 of the 6 lines of market_ticks"]}


def test_silent_role_without_restart_fails_restored_role_passes(tmp_path: Path) -> None:
    gap = ("strategy_role", T0 + 20_000, T0 + 90_000)  # no beat from 15 s to 90 s: 75 s > 60 s
    silent = RunBuilder(tmp_path / "silent")
    populate(silent, silent=gap)
    finish(silent)
    found = codes(silent.run_dir)
    assert list(found) == [VerifyCode.ROLE_SILENT.value]
    assert found["ROLE_SILENT"][0].startswith("strategy_role sent no heartbeat for 75.0 s")
    restored = RunBuilder(tmp_path / "restored")
    populate(restored, silent=gap, restart_after_gap=True)
    finish(restored)
    verdict = verify_run(restored.run_dir)
    assert verdict.passed and verdict.restarts["strategy_role"]["seen_in_heartbeats"] == 1


def test_binance_thresholds(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path)
    populate(b)
    for k in range(10):
        b.request(T0 + k, "/api/v3/exchangeInfo", 2500.0 + k)  # p95 of 60 answered: rank 57, the 7th of these
    for k in range(4):
        b.request(T0 + k, "/api/v3/time", 8.0, status=None, error="timeout")
    finish(b)
    found = codes(b.run_dir)
    assert sorted(found) == [ReasonCode.BINANCE_ERROR_RATE.value, VerifyCode.BINANCE_LATENCY_HIGH.value]
    assert found["BINANCE_LATENCY_HIGH"][0].startswith("Binance latency p95 2506.0 ms (wall clock) > ")
    assert found["BINANCE_ERROR_RATE"][0].startswith("4 of 64 requests failed (6.2%)")


def test_run_ended_early_and_unreadable_dirs(tmp_path: Path, clean: RunBuilder) -> None:
    run = read_critical_json(clean.run_dir / "run.json")
    run["config"]["duration_ms"] = 600_000
    write_critical_json(clean.run_dir / "run.json", run)
    found = codes(clean.run_dir)
    assert VerifyCode.RUN_ENDED_EARLY.value in found
    result = runner.invoke(app, ["verify", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no such directory" in result.output
    result = runner.invoke(app, ["verify", "--json", str(tmp_path)])
    assert result.exit_code == 2 and json.loads(result.output)["verdict"] == "ERROR"


def test_quiet_while_winding_down_is_not_silence(tmp_path: Path) -> None:
    """Beats stop 65 s into a 120 s run (within the 60 s threshold of the planned end) and the same process
    ends with STOPPING 20 s after the planned end: the run winding down. Ending on OK instead: silence."""
    for last_state in ("STOPPING", "OK"):
        b = RunBuilder(tmp_path / last_state)
        populate(b, silent=("strategy_role", T0 + 70_000, END + 1))
        b.heartbeat("strategy_role", END + 20_000, last_state)
        finish(b)
        found = codes(b.run_dir)
        if last_state == "STOPPING":
            assert found == {}
        else:
            assert list(found) == [VerifyCode.ROLE_SILENT.value]
            assert found["ROLE_SILENT"][0].startswith("strategy_role sent no heartbeat for 75.0 s")


def test_damaged_ai_metrics_is_a_reason_not_a_crash(clean: RunBuilder) -> None:
    ai = clean.run_dir / "ai" / "metrics.json"
    ai.parent.mkdir()
    write_critical_json(ai, {"active_version": None, "dataset_rows": 12})
    assert codes(clean.run_dir) == {}
    assert verify_run(clean.run_dir).metrics["ai"] == {"active_version": None, "dataset_rows": 12}
    ai.write_bytes(ai.read_bytes()[:-10])
    verdict = verify_run(clean.run_dir)
    assert [r.code for r in verdict.reasons] == [ReasonCode.NON_ATOMIC_WRITE.value]
    assert verdict.metrics["ai"]["error"].startswith("NON_ATOMIC_WRITE")


def test_run_json_with_an_invalid_config_is_unreadable(clean: RunBuilder) -> None:
    run = read_critical_json(clean.run_dir / "run.json")
    del run["config"]["metrics"]["max_error_rate"]
    write_critical_json(clean.run_dir / "run.json", run)
    result = runner.invoke(app, ["verify", str(clean.run_dir)])
    assert result.exit_code == 2 and "metrics: 'max_error_rate' is a required property" in result.output


def test_run_json_naming_folders_outside_the_run_is_unreadable(clean: RunBuilder) -> None:
    """Issue 13: an absolute queues.base_dir made verify fail with an internal error; a logging.dir outside
    the run passed. Either is now refused, naming the key."""
    for section, key, value in (("queues", "base_dir", "/elsewhere/queues"), ("logging", "dir", "../../../x")):
        run = read_critical_json(clean.run_dir / "run.json")
        original = run["config"][section][key]
        run["config"][section][key] = value
        write_critical_json(clean.run_dir / "run.json", run)
        result = runner.invoke(app, ["verify", str(clean.run_dir)])
        assert result.exit_code == 2 and f"{section}.{key}: {value!r} is not a folder inside" in result.output
        run["config"][section][key] = original
        write_critical_json(clean.run_dir / "run.json", run)


def test_an_id_in_two_journals(clean: RunBuilder) -> None:
    # The same event copied into another queue's journal: each journal alone is free of repeats, the run
    # is not (one sort over every id of the run).
    timing = clean.ctx.queue_paths("timing").folder / "inbox.jsonl"
    copied = timing.read_bytes().splitlines(keepends=True)[1]
    event_id = json.loads(split_line(copied)[1])["id"]
    ticks = clean.ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
    ticks.write_bytes(ticks.read_bytes() + copied)
    found = codes(clean.run_dir)[ReasonCode.DUPLICATE_ID.value]
    assert len(found) == 1
    assert event_id in found[0] and "timing/inbox.jsonl:2" in found[0]
    assert f"market_ticks/inbox.jsonl:{len(ticks.read_bytes().splitlines())} and " in found[0]
