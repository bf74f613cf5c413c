"""MetricsCollector on run directories written by the real producers, runner and execution core."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minibot.journal.atomic import read_critical_json
from minibot.journal.stop import stop
from minibot.journal.verify import verify_path
from minibot.metrics.collector import MetricsCollector
from minibot.metrics.verify import verify_run
from minibot.reasons import JournalCorrupt, ReasonCode, VerifyCode

from .runbuild import END, PID, T0, RunBuilder, finish, populate, roles_view, trade


def test_figures_of_a_constructed_run(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path)
    populate(b)
    b.request(T0 + 500, "/api/v3/exchangeInfo", 40.0, status=503, error="HTTP 503")
    b.request(T0 + 600, "/api/v3/exchangeInfo", 30.0, status=None, error="timeout")
    core = b.step_executor()
    m = finish(b)
    # Counts per queue: 5 ticks, 2 intents, 2 results, 2 fills, 25 beats x 5 roles, 2 timings.
    assert {q: m["counts"][q] for q in ("market_ticks", "order_intents", "order_results", "fills", "health")} == {
        "market_ticks": 5,
        "order_intents": 2,
        "order_results": 2,
        "fills": 2,
        "health": 125,
    }
    assert m["order_results"] == {"FILLED": 2} and m["coverage"]["queues"]["fills"] == 2
    # Binance: 25 pings at 5..14 ms (5 + k mod 10), 25 time requests at 6 ms, 2 failed exchangeInfo.
    b_ = m["binance"]
    assert (b_["requests"], b_["errors"], b_["error_rate"]) == (52, 2, 2 / 52)
    ping = b_["endpoints"]["/api/v3/ping"]
    assert (ping["requests"], ping["errors"], ping["latency_ms"]["p50"], ping["latency_ms"]["max"]) == (
        25,
        0,
        9.0,
        14.0,
    )
    assert b_["endpoints"]["/api/v3/exchangeInfo"]["latency_ms"]["count"] == 1  # the 503 answered, the timeout did not
    assert b_["statuses"] == {"200": 50, "503": 1, "none": 1}
    # Latency: the pipeline's (wall clock, the timing events) apart from the modelled one (market time): both
    # orders reached the book at the tick execution.latency_ms after their decision.
    pipeline, modelled = m["latency"]["pipeline_ms"], m["latency"]["modelled_ms"]
    assert (pipeline["count"], pipeline["p50"], pipeline["p99"], pipeline["max"], pipeline["clock"]) == (
        2,
        3.0,
        4.0,
        4.0,
        "wall",
    )
    assert (modelled["configured"], modelled["clock"]) == (100, "market")
    assert {k: modelled["observed"][k] for k in ("count", "p50", "p99", "max")} == {
        "count": 2,
        "p50": 100.0,
        "p99": 100.0,
        "max": 100.0,
    }
    # PnL: the hand-computed round trip (tests/metrics/runbuild.py `trade`), equal to the executor's own book.
    pnl = m["pnl"]
    assert pnl["realized_pnl"] == pytest.approx(8.97999, abs=1e-9) and pnl["trips"] == 1 and pnl["win_rate"] == 1.0
    assert pnl["max_drawdown"] == pytest.approx(0.001050501, abs=1e-12)
    snap = core.portfolio.snapshot()
    assert (pnl["equity"], pnl["max_drawdown"], pnl["fees_paid"]) == (
        snap["equity"],
        snap["max_drawdown"],
        snap["fees_paid"],
    )
    # Queue lag: the executor acked everything it read; nobody consumed fills in this run.
    assert m["queue_lag"]["order_intents"]["execution_role"] == {"acked": 2, "lag": 0}
    assert m["queue_lag"]["market_ticks"]["execution_role"] == {"acked": 5, "lag": 0}
    assert m["queue_lag"]["fills"]["risk_role"] == {"acked": 0, "lag": 2}
    # Roles: alive the whole 120 s, clean STOPPING end, the supervisor's view merged in.
    r = m["roles"]["market_role"]
    assert (r["heartbeats"], r["alive_s"], r["alive_pct"], r["last_state"], r["restarts_seen"]) == (
        25,
        120.0,
        100.0,
        "STOPPING",
        0,
    )
    assert (r["pid"], r["alive"], r["restarts"], r["rss_mb"], r["peak_rss_mb"]) == (
        PID["market_role"],
        False,
        0,
        None,
        None,
    )
    assert m["stops"]["count"] == 0 and m["stops"]["share"] == 0.0 and m["final"] is True
    assert read_critical_json(b.run_dir / "metrics.json") == m
    assert "ai" not in m


def test_stops_restarts_and_gaps(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path)
    trade(b)
    for ts in range(T0, T0 + 30_001, 5000):
        b.heartbeat("strategy_role", ts)
    b.heartbeat("strategy_role", T0 + 100_000)  # 70 s of silence, same process: a silent gap
    b.heartbeat("risk_role", T0)
    b.heartbeat("risk_role", T0 + 3000, pid=4242)  # a new process: a restart
    b.heartbeat("watchdog_role", T0 + 3000, state="DEGRADED", restarted_role="risk_role")
    b.now = T0 + 60_000  # a STOP one minute into the planned 2 minutes: half the night lost
    stop(
        b.ctx, source="cli", component="operator", reason_code=ReasonCode.INJECTED_FAULT, detail="drill", injected=True
    )
    b.now = T0 + 61_000
    stop(b.ctx, source="risk_role", component="risk", reason_code=ReasonCode.RISK_MAX_DRAWDOWN, detail="dd 4 %")
    b.close()
    c = MetricsCollector(b.run_dir)
    c.update(T0 + 100_000)
    m = c.metrics()
    s = m["stops"]
    assert (s["count"], s["injected"], s["not_injected"], s["first_ms"], s["share"]) == (2, 1, 1, T0 + 60_000, 0.5)
    assert s["reasons"] == {"INJECTED_FAULT": 1, "RISK_MAX_DRAWDOWN": 1}
    strat = m["roles"]["strategy_role"]
    assert (strat["silent_gaps"], strat["max_gap_s"], strat["alive_s"]) == (1, 70.0, 30.0)
    assert strat["gaps"] == [{"from_ms": T0 + 30_000, "to_ms": T0 + 100_000, "gap_s": 70.0, "restored": False}]
    risk = m["roles"]["risk_role"]
    assert (risk["restarts_seen"], risk["restarts_recorded_by_watchdog"], risk["last_pid"]) == (1, 1, 4242)


def test_incremental_polls_and_snapshot_cadence(tmp_path: Path) -> None:
    """metrics.json every interval_s, a snapshot every snapshot_interval_s (run clock), a final one at the end;
    the snapshots journal verifies; figures grow as the queues do."""
    b = RunBuilder(tmp_path)
    c = MetricsCollector(b.run_dir)
    interval = c.interval_ms  # 10 s by default, snapshots every 300 s
    assert c.poll(T0) is True and c.poll(T0 + interval / 2) is False
    trade(b)
    assert c.poll(T0 + interval) is True
    assert read_critical_json(b.run_dir / "metrics.json")["counts"]["fills"] == 2
    assert not (b.run_dir / "metrics" / "snapshots.jsonl").exists()
    assert c.poll(T0 + 300_000) is True  # a snapshot is due
    c.update(T0 + 301_000)
    c.write(final=True)
    c.close()
    b.close()
    report = verify_path(b.run_dir / "metrics" / "snapshots.jsonl")
    assert report.ok and report.counts == {"metrics_snapshot": 2}


def test_strict_collector_names_a_tampered_line(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path)
    trade(b)
    b.close()
    inbox = b.ctx.queue_paths("fills").folder / "inbox.jsonl"
    data = inbox.read_bytes()
    inbox.write_bytes(data.replace(b'"side":"SELL"', b'"side":"BUY"', 1))
    with pytest.raises(JournalCorrupt) as info:
        MetricsCollector(b.run_dir).update(END)
    assert info.value.reason_code is ReasonCode.LINE_HASH_MISMATCH and "fills/inbox.jsonl:2" in info.value.detail
    lenient = MetricsCollector(b.run_dir, strict=False)
    lenient.update(END)
    assert lenient.skipped_lines == 1 and lenient.metrics()["counts"]["fills"] == 2


def test_a_new_instance_token_is_a_restart_even_with_the_same_pid(tmp_path: Path) -> None:
    """Roles report the instance token of their start: a reused pid (or one launcher pid) hides no restart."""
    b = RunBuilder(tmp_path)
    b.heartbeat("risk_role", T0, instance="a" * 32)
    b.heartbeat("risk_role", T0 + 5000, instance="a" * 32)
    b.heartbeat("risk_role", T0 + 10_000, instance="b" * 32)
    b.close()
    c = MetricsCollector(b.run_dir)
    c.update(T0 + 10_000)
    assert c.metrics()["roles"]["risk_role"]["restarts_seen"] == 1


def test_process_figures_of_a_live_pid(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path)
    c = MetricsCollector(b.run_dir)
    roles = roles_view(alive=True)
    roles["market_role"]["pid"] = os.getpid()
    roles["strategy_role"]["pid"] = None
    roles["risk_role"]["pid"] = 2**22 + 12345  # above Linux's pid_max, and no such Windows pid here either
    c.update(T0 + 5000, roles)
    sum(i * i for i in range(200_000))  # some CPU between two samples
    c.update(T0 + 10_000, roles)
    r = c.metrics()["roles"]
    market = r["market_role"]
    assert market["rss_mb"] > 1.0 and market["cpu_pct"] >= 0.0 and market["peak_rss_mb"] >= market["rss_mb"]
    assert (market["uptime_s"], market["sampled_ms"]) == (10.0, T0 + 10_000)
    assert r["strategy_role"]["rss_mb"] is None and r["strategy_role"]["alive"] is True
    assert r["risk_role"]["rss_mb"] is None and "NoSuchProcess" in r["risk_role"]["process_error"]
    roles["market_role"]["alive"] = False  # the process ended: its last sample and peak stay in the figures
    c.update(T0 + 15_000, roles)
    ended = c.metrics()["roles"]["market_role"]
    assert ended["alive"] is False and ended["uptime_s"] == 0.0
    assert (ended["rss_mb"], ended["peak_rss_mb"], ended["sampled_ms"]) == (
        market["rss_mb"],
        market["peak_rss_mb"],
        T0 + 10_000,
    )
    b.close()


def test_a_late_fill_starts_the_pnl_over_from_the_journals(tmp_path: Path) -> None:
    """The collector keeps only the ticks newer than its PnL checkpoint; a fill written long after newer ticks
    (a lagging execution_role) is older than the checkpoint: the figures start over from the queues on disk,
    and still equal one pass over the journals and what `nore verify` recomputes, bit for bit."""
    b = RunBuilder(tmp_path / "var")
    c = MetricsCollector(b.run_dir)
    step = 30_000
    for k in range(61):  # 30 minutes of ticks, a metrics write after each
        mid = 50_000.0 + 40.0 * (k % 7)
        b.tick(T0 + k * step, mid - 0.5, mid + 0.5)
        c.poll(T0 + k * step + 1)
    held = len(c.pnl._tick_ts)
    # the checkpoint is 10 to 15 minutes behind the newest tick: the rest is folded and forgotten
    assert held <= 900_000 // step + 1
    b.fill(T0 + 5 * 60_000, "BUY", 0.01, 50_040.5, 0.5, 1)  # decided at minute 5, written at minute 30
    c.poll(T0 + 61 * step)
    assert c.pnl.start_overs == 1 and len(c.pnl._tick_ts) <= held
    for k in range(61, 81):
        mid = 50_100.0 + 10.0 * (k % 3)
        b.tick(T0 + k * step, mid - 0.5, mid + 0.5)
        c.poll(T0 + k * step + 1)
    b.fill(T0 + 80 * step, "SELL", 0.01, 50_099.5, 0.5, 2)
    b.close()
    c.update(T0 + 81 * step)
    live = c.write(final=True)["pnl"]
    c.close()
    offline = MetricsCollector(b.run_dir, strict=False)
    offline.update(None)
    assert offline.pnl.start_overs == 0 and offline.metrics()["pnl"] == live
    assert live["trips"] == 1 and live["realized_pnl"] == pytest.approx((50_099.5 - 50_040.5) * 0.01 - 1.0)
    assert not any(r.code == VerifyCode.METRICS_MISMATCH.value for r in verify_run(b.run_dir).reasons)
