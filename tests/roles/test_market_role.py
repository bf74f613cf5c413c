"""market_role (and health_role beside it) as real processes against the real loopback simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from minibot.config.binance import BinanceConfig
from minibot.exitcodes import ExitCode
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.ordering import WriteOrder, using
from minibot.journal.stop import read_stop
from minibot.journal.verify import verify_path
from minibot.market.models import AggTrade, BookTicker
from minibot.market.rest import PUBLIC_PATHS
from minibot.roles.market_role import MarketRole
from minibot.roles.process import Heartbeat, load_env
from minibot.roles.request_journal import journal_folder
from minibot.runlayout import REQUESTS_STEM, RUN_FILE
from tests.fake_kernel32 import FakeWinmm
from tests.roles.core_run import make_run_dir
from tests.roles.market_harness import SYMBOLS, Run, make_run, ticks_of, wait_until

pytestmark = pytest.mark.process

# Faults start after the role processes are up and streaming: ~1 s of real time on a quiet machine, 5-10 s on a
# busy 2-core CI box. Each test checks that the role streamed before its fault window opened.
STARTUP_REAL_S = 12.0
# slow_latency_ms is run-clock: at speed 30 the shipped 2000 ms is 67 real ms, which a busy box exceeds at random.
# Slow probes are proven in tests/market/test_against_sim.py; here they would only measure the load.
CALM = {"health": {"slow_latency_ms": 60_000}}
REQUIRED = ("symbol", "price", "bid", "ask", "bid_qty", "ask_qty", "kind", "exchange_ts", "trade_id", "recv_perf_ns")


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Run]]:
    """Runs made by a test; their processes are killed and simulators stopped afterwards."""
    made: list[Run] = []
    yield made
    for run in made:
        run.kill_all()
        run.sim.stop()


def market_health(run: Run) -> list[dict[str, Any]]:
    """market_role's health payloads that carry its counters."""
    return [e["payload"] for e in run.events("health") if e["source"] == "market_role" and "market" in e["payload"]]


def assert_agg_ids_contiguous(ticks: list[dict[str, Any]]) -> None:
    """Every symbol's aggTrade ids in queue order: strictly +1, so no gap and no duplicate."""
    for symbol in SYMBOLS:
        ids = [t["trade_id"] for t in ticks_of(ticks, "agg_trade", symbol)]
        assert len(ids) > 10, f"{symbol}: only {len(ids)} aggTrade ticks"
        steps = [b - a for a, b in pairwise(ids)]
        assert set(steps) == {1}, f"{symbol}: aggTrade id steps {sorted(set(steps))}"


def assert_clean_end(run: Run) -> None:
    """Journals verify, requests were public GETs only, the simulator saw no violation."""
    report = verify_path(run.run_dir / "queues")
    assert report.ok, "\n".join(map(str, report.problems[:10]))
    requests = journal_folder(run.run_dir) / f"{REQUESTS_STEM}.jsonl"
    assert verify_path(requests).ok
    for event in run.requests():
        payload = event["payload"]
        assert payload["method"] == "GET" and payload["path"] in PUBLIC_PATHS, payload
    stats = run.sim.stats()
    assert stats["violations_total"] == 0, stats["violations"]


def wait_streaming_before(run: Run, fault_at_ms: int, levels: bool = False) -> None:
    """Wait for market_role's first stream tick (with depth levels when `levels`); check it came before the fault."""

    def streaming() -> bool:
        ticks = [e["payload"] for e in run.events("market_ticks")]
        return any(t["origin"] == "ws" and (not levels or "bids" in t) for t in ticks)

    wait_until(streaming, STARTUP_REAL_S, "market_role's first stream tick", detail=lambda: run.output("market_role"))
    elapsed = run.sim.running.ctx.clock.elapsed_ms()
    assert elapsed < fault_at_ms, f"market_role streamed only at {elapsed} ms, after the fault began at {fault_at_ms}"


def test_ticks_health_and_requests_flow_then_graceful_shutdown(tmp_path: Path, runs: list[Run]) -> None:
    run = make_run(tmp_path, speed=30.0, binance=CALM)
    runs.append(run)
    run.start("market_role")
    run.start("health_role")

    def enough() -> bool:
        ticks = [e["payload"] for e in run.events("market_ticks")]
        roles = {(e["source"], e["payload"]["state"]) for e in run.events("health")}
        return (
            all(any(ticks_of(ticks, "book", s)) and len(list(ticks_of(ticks, "agg_trade", s))) > 20 for s in SYMBOLS)
            and ("health_role", "OK") in roles
            and ("market_role", "OK") in roles
        )

    wait_until(
        enough,
        STARTUP_REAL_S + 20,
        "book and 20 aggTrade ticks of both symbols and OK health from both roles",
        detail=lambda: [(e["source"], e["payload"]["state"], e["payload"].get("error")) for e in run.events("health")],
    )
    run.shutdown()
    assert run.wait_exit("market_role") == ExitCode.OK, run.output("market_role")
    assert run.wait_exit("health_role") == ExitCode.OK, run.output("health_role")

    events = run.events("market_ticks")
    assert all(e["source"] == "market_role" for e in events)
    ts = [e["ts"] for e in events]
    assert ts == sorted(ts), "tick ts (run clock at emission) must not go backwards"
    ticks = [e["payload"] for e in events]
    for tick in ticks:
        assert all(k in tick for k in REQUIRED), tick
        assert isinstance(tick["recv_perf_ns"], int) and tick["bid"] <= tick["ask"]
        if tick["kind"] == "book":
            assert tick["price"] == pytest.approx((tick["bid"] + tick["ask"]) / 2)
            assert tick["trade_id"] is None and tick["conflated"] >= 0
        else:
            assert isinstance(tick["trade_id"], int) and isinstance(tick["exchange_ts"], int) and tick["qty"] > 0
    assert {t["origin"] for t in ticks if t["kind"] == "book"} >= {"rest", "ws"}  # REST snapshot, then stream
    assert_agg_ids_contiguous(ticks)
    # Book updates are conflated per symbol: at most one book tick per conflation window (250 ms run clock).
    for symbol in SYMBOLS:
        book_ts = [e["ts"] for e in events if e["payload"]["kind"] == "book" and e["payload"]["symbol"] == symbol]
        # (the last one may be the held book published at shutdown, before its window ended)
        assert all(b - a >= 250 for a, b in pairwise(book_ts[:-1]))
    assert sum(t.get("conflated", 0) for t in ticks) > 0

    health = run.events("health")
    for role in ("market_role", "health_role"):
        states = [e["payload"]["state"] for e in health if e["source"] == role]
        assert states[0] == "STARTING" and states[-1] == "STOPPING", (role, states)
    roles_requesting = {e["source"] for e in run.requests()}
    assert roles_requesting == {"market_role", "health_role"}
    assert_clean_end(run)


def test_malformed_frames_and_ws_drops_recover_without_id_gaps(tmp_path: Path, runs: list[Run]) -> None:
    speed = 30.0
    start = int(STARTUP_REAL_S * 1000 * speed)
    scenario = {
        "version": 1,
        "faults": [
            {"kind": "malformed_frames", "at_ms": start, "duration_ms": 30_000, "every_n": 10},
            # 1 real s apart: each drop must find the client connected again, which a busy box may take 0.3 s.
            {"kind": "ws_disconnect", "at_ms": start + 40_000, "duration_ms": 2000, "every_ms": 30_000, "count": 3},
        ],
    }
    run = make_run(tmp_path, speed=speed, scenario=scenario, binance=CALM)
    runs.append(run)
    run.start("market_role")
    wait_streaming_before(run, start)

    def recovered() -> bool:
        health = market_health(run)
        return bool(health) and health[-1]["market"]["reconnects"] >= 3 and health[-1]["state"] == "OK"

    wait_until(
        recovered,
        30,
        "three reconnects and an OK health round after them",
        detail=lambda: [(h["state"], h.get("error"), h["market"]["reconnects"]) for h in market_health(run)][-10:],
    )
    run.shutdown()
    assert run.wait_exit("market_role") == ExitCode.OK, run.output("market_role")

    health = market_health(run)
    degraded = [h for h in health if h["state"] == "DEGRADED"]
    assert any("malformed" in h.get("error", "") for h in degraded), [h.get("error") for h in degraded]
    counters = health[-1]["market"]
    assert counters["ws_malformed"] > 0 and counters["ws_connects"] >= 4
    assert counters["duplicate_trades"] == 0 and counters["agg_unfilled"] == 0, counters
    ticks = [e["payload"] for e in run.events("market_ticks")]
    assert_agg_ids_contiguous(ticks)
    # Trades the stream missed while down came back by REST (fallback poll or gap back-fill) as ticks.
    assert any(t["kind"] == "agg_trade" and t["origin"] in ("rest", "backfill") for t in ticks)
    assert_clean_end(run)


def test_no_market_data_while_binance_answers_stops_market_data_stale(tmp_path: Path, runs: list[Run]) -> None:
    # The stream goes silent and the REST fallback's endpoints fail, while ping/time keep answering, so
    # the health policy has no reason to STOP: only the role's own stale-data guard does.
    speed = 20.0  # the STOP must come within 10 s of run clock: 500 real ms, not lost in a busy box's scheduling
    silent_from = int(STARTUP_REAL_S * 1000 * speed)
    scenario = {
        "version": 1,
        "faults": [
            {"kind": "silent_stream", "at_ms": silent_from, "duration_ms": 3_600_000},
            {
                "kind": "http_5xx",
                "at_ms": silent_from,
                "duration_ms": 3_600_000,
                "status": 503,
                "paths": ["/api/v3/ticker/bookTicker", "/api/v3/aggTrades"],
            },
        ],
    }
    binance = {"stale_stream_ms": 5000, "health": {"unreachable_threshold_ms": 20_000, **CALM["health"]}}
    run = make_run(tmp_path, speed=speed, scenario=scenario, binance=binance)
    runs.append(run)
    run.start("market_role")
    wait_streaming_before(run, silent_from)
    assert run.wait_exit("market_role", 30) == ExitCode.STOPPED, run.output("market_role")
    held = read_stop(run.run_dir)
    assert held["payload"]["reason_code"] == "MARKET_DATA_STALE", held
    assert held["payload"]["component"] == "market_role"
    assert "25000 ms" in held["payload"]["detail"]  # stale_stream_ms + unreachable_threshold_ms
    # Measured from the last tick, which may be a held book released up to conflation_ms after the last data.
    stop_at = held["ts"] - run.events("market_ticks")[-1]["ts"]
    assert 25_000 - 250 <= stop_at < 25_000 + 10_000, stop_at
    assert_clean_end(run)


def test_depth_levels_ride_on_every_tick_and_a_stale_book_is_not_carried(tmp_path: Path, runs: list[Run]) -> None:
    # Speed 10: a tick's levels count as stale 2 s (run clock) after the depth stopped advancing *as the role saw
    # it*; a role lagging behind the stream on a busy box shifts that, so the windows below leave 8 s = 800 real ms.
    speed = 10.0
    stale_from = int(STARTUP_REAL_S * 1000 * speed)
    scenario = {"version": 1, "faults": [{"kind": "stale_book", "at_ms": stale_from, "duration_ms": 30_000}]}
    run = make_run(tmp_path, speed=speed, scenario=scenario, binance={"depth_levels": 20, **CALM})
    runs.append(run)
    run.start("market_role")
    wait_streaming_before(run, stale_from, levels=True)

    def through_the_fault() -> bool:
        health = market_health(run)
        return (
            bool(health)
            and health[-1]["market"]["depth_stale"] > 0
            and run.sim.stats()["elapsed_ms"] > stale_from + 35_000
        )

    wait_until(through_the_fault, 30, "ticks without levels during the stale_book window, then fresh ones")
    run.shutdown()
    assert run.wait_exit("market_role") == ExitCode.OK, run.output("market_role")
    events = run.events("market_ticks")
    with_levels = [e for e in events if "bids" in e["payload"]]
    assert len(with_levels) > 100
    for e in with_levels:
        t = e["payload"]
        assert 1 <= len(t["bids"]) <= 20 and 1 <= len(t["asks"]) <= 20
        assert t["bids"][0] == [t["bid"], t["bid_qty"]] and t["asks"][0] == [t["ask"], t["ask_qty"]]
        assert all(a[0] > b[0] for a, b in pairwise(t["bids"])) and all(a[0] < b[0] for a, b in pairwise(t["asks"]))
    assert max(len(e["payload"]["bids"]) for e in with_levels) == 20
    # Inside the fault window the depth stream repeats an old book: ticks there go without levels, and
    # carry them again once the window is over.
    start_ms = run.sim.running.ctx.clock.start_ms
    inside = [e for e in events if stale_from + 10_000 <= e["ts"] - start_ms < stale_from + 30_000]
    after = [e for e in events if e["ts"] - start_ms > stale_from + 32_000]
    carried = [e["ts"] - start_ms - stale_from for e in inside if "bids" in e["payload"]]
    assert inside and not carried, f"levels carried {carried[:10]} ms into the stale_book window"
    assert after and "bids" in after[-1]["payload"]
    stats = run.sim.stats()
    assert stats["faults_injected"]["stale_book"] > 0
    assert any(name.endswith("@depth20@100ms") for name in stats["ws"]["served"])
    assert_clean_end(run)


def test_market_role_holds_1_ms_timers_while_it_conflates_and_gives_them_back(tmp_path: Path) -> None:
    """Windows fires timers every 15.6 ms unless asked: a conflated book's release would be that late."""
    make_run_dir(tmp_path)
    env = load_env("market_role", tmp_path)
    assert BinanceConfig.from_config(env.config).conflation_ms > 0
    mm = FakeWinmm()
    role = MarketRole(env, Heartbeat(env), mm=mm)
    assert mm.requests == 1
    asyncio.run(role.close())
    assert mm.requests == 0


def test_a_batch_is_urgent_only_when_a_tick_of_it_may_close_a_bar(tmp_path: Path) -> None:
    """strategy_role listens to market_ticks sparsely: only a tick of a later bar bucket of its symbol rings it."""
    make_run_dir(tmp_path)
    env = load_env("market_role", tmp_path)
    role = MarketRole(env, Heartbeat(env), mm=FakeWinmm())
    rings: list[bool] = []
    role.producer.after_publish = rings.append
    interval = role.closes.interval_ms
    start = (role.clock.now_ms() // interval + 1) * interval

    def tick(symbol: str, at: int) -> None:
        payload = {"symbol": symbol, "price": 100.0, "bid": 99.99, "ask": 100.01, "bid_qty": 1.0, "ask_qty": 1.0}
        payload |= {"kind": "book", "exchange_ts": None, "trade_id": None, "conflated": 0, "recv_perf_ns": 1}
        role._add([payload], at)
        role._publish()

    tick("BTCUSDT", start)  # the first tick of a symbol may close a bar (what came before is unknown)
    tick("BTCUSDT", start + interval - 1)  # same bucket
    tick("ETHUSDT", start + interval - 1)  # another symbol's first
    tick("BTCUSDT", start + interval)  # the next bucket
    tick("ETHUSDT", start + interval)  # the next bucket for it too
    tick("ETHUSDT", start + interval + 1)  # same bucket as its last
    assert rings == [True, False, True, True, True, False]
    asyncio.run(role.close())


def test_a_quiet_publish_starts_no_round_and_a_held_book_or_an_owed_commit_does(tmp_path: Path) -> None:
    """Idle cost (issue 14): a tick is published between the loop's rounds; the loop wakes only when its sleep
    must end sooner: a group commit still owed after the publish, or a book newly held (its window's end)."""
    make_run_dir(tmp_path, speed=1.0)  # a book's 250 ms window in real time: the second book is surely inside it
    run = read_critical_json(tmp_path / RUN_FILE)
    # A 300 ms group commit: a burst's two publishes are surely inside one interval, even on a starved CI box.
    run["config"]["queues"]["fsync_overrides"]["market_ticks"] = "group:300ms"
    write_critical_json(tmp_path / RUN_FILE, run)
    env = load_env("market_role", tmp_path)
    with using(WriteOrder()) as order:
        role = MarketRole(env, Heartbeat(env), mm=FakeWinmm())
    assert role.cfg.conflation_ms > 0

    def trade(agg_id: int) -> AggTrade:
        return AggTrade("BTCUSDT", agg_id, 100.0, 0.5, agg_id, agg_id, 1_000 + agg_id, None, False)

    def book(symbol: str, bid: float, update_id: int) -> BookTicker:
        return BookTicker(symbol, bid, 1.0, 101.0, 1.0, update_id)

    async def publish(message: AggTrade | BookTicker) -> bool:
        role.wake.clear()
        role._on_message(message)
        await asyncio.sleep(0)  # the `_publish_soon` callback
        return role.wake.is_set()

    async def quiet() -> None:
        """What the loop's rounds would do: the owed group commit, its fsyncs done; then an interval without one."""
        for _ in range(100):
            if order.commit_owed() is None and not order._busy():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.35)

    async def drive() -> list[bool]:
        woken = [await publish(book("BTCUSDT", 99.0, 1))]
        await quiet()
        woken.append(await publish(trade(1)))
        await quiet()
        woken.append(await publish(trade(2)))
        woken.append(await publish(trade(3)))  # a burst: its group commit is not due yet
        await quiet()
        woken.append(await publish(book("BTCUSDT", 99.5, 2)))  # its window has ended: published
        woken.append(await publish(book("BTCUSDT", 99.6, 3)))  # inside the window the last one opened: held
        return woken

    with using(order):
        woken = asyncio.run(drive())
    assert role.published == 5 and role.builder.next_due_ms() is not None  # the last book is held
    assert woken == [True, False, False, True, False, True], woken  # the very first publish: nothing was committed yet
    asyncio.run(role.close())
