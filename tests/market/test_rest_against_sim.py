"""REST client, weight policy and gap back-fill against the loopback simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from minibot.clock import RunClock
from minibot.market.clock_skew import measure_skew
from minibot.market.errors import ForbiddenRequest, HttpError
from minibot.market.gaps import AggTradeGapFiller, GapReport
from minibot.market.health import HealthChecker, HealthPolicy
from minibot.market.rest import BinanceRest, RequestRecord
from minibot.sim.runner import RunningSimulator, SimConfig, start_simulator

from .conftest import SteppedClock
from .simharness import SYMBOLS

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]


def with_sim(
    body: Callable[[RunningSimulator, BinanceRest, RunClock], Awaitable[Any]],
    speed: float = 30.0,
    scenario: dict[str, Any] | None = None,
    weight_limit: int = 6000,
    warmup_ms: int = 0,
) -> Any:
    """Run `body(sim, rest, clock)` with a simulator and a client on one run clock; asserts no violation."""

    async def main() -> Any:
        sim = await start_simulator(SimConfig(symbols=SYMBOLS, speed=speed, scenario=scenario, seed=3))
        clock: RunClock = sim.ctx.clock  # one run clock, shared as in an embedded run
        rest = BinanceRest(sim.base_url, 10.0, weight_limit, clock)
        try:
            await asyncio.sleep(clock.real_seconds(warmup_ms))
            result = await body(sim, rest, clock)
            assert sim.stats()["violations"] == []
            return result
        finally:
            await rest.close()
            await sim.stop()

    return asyncio.run(asyncio.wait_for(main(), 60))


def test_typed_endpoints() -> None:
    async def body(sim: RunningSimulator, rest: BinanceRest, clock: RunClock) -> None:
        await rest.ping()
        server = await rest.time()
        assert abs(server - clock.now_ms()) < 2000
        info = await rest.exchange_info(SYMBOLS)
        assert [s["symbol"] for s in info["symbols"]] == SYMBOLS
        one = await rest.book_ticker("BTCUSDT")
        both = await rest.book_ticker(SYMBOLS)
        assert len(one) == 1 and [b.symbol for b in both] == SYMBOLS and all(b.bid <= b.ask for b in both)
        prices = await rest.ticker_price(SYMBOLS)
        assert set(prices) == set(SYMBOLS) and all(p > 0 for p in prices.values())
        depth = await rest.depth("ETHUSDT", 5)
        assert depth.bids[0][0] <= depth.asks[0][0] and depth.last_update_id > 0
        klines = await rest.klines("BTCUSDT", "1m", limit=3)
        assert klines and all(k.low <= k.open <= k.high and k.close_time > k.open_time for k in klines)
        trades = await rest.agg_trades("BTCUSDT", limit=20)
        ids = [t.agg_id for t in trades]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        with pytest.raises(HttpError) as info_err:
            await rest.book_ticker("NOSUCHPAIR")
        assert (info_err.value.status, info_err.value.code) == (400, -1121)
        paths = [r.path for r in rest.request_log]
        assert paths[0] == "/api/v3/ping" and len(paths) == 10
        assert all(r.used_weight is not None and r.latency_ms > 0 for r in rest.request_log)

    with_sim(body, warmup_ms=5000)


def test_client_slows_down_before_the_limit_and_never_sees_429() -> None:
    # The simulator allows 100 weight per run minute; the client budgets the same and slows at 80 %.
    scenario = {"version": 1, "rate_limit": {"weight_per_minute": 100}}

    async def body(sim: RunningSimulator, rest: BinanceRest, clock: RunClock) -> int:
        # The server's minute is known through the skew estimate, as in a run.
        rest.weights.server_offset_ms = (await measure_skew(rest, clock)).skew_ms
        start = clock.now_ms()
        for _ in range(60):  # 60 x weight 2 = 120 > one window's 80: needs at least one wait
            await rest.book_ticker("BTCUSDT")
        assert {r.status for r in rest.request_log} == {200}
        assert rest.weights.slowdowns >= 1
        assert max(r.used_weight or 0 for r in rest.request_log) <= 80
        return clock.now_ms() - start

    # Speed 15: a run minute is 4 real seconds, so the 60 requests fit in one window even on a busy box (at
    # speed 60 they could spread over two windows and never reach the slow-down threshold).
    elapsed = with_sim(body, speed=15.0, scenario=scenario, weight_limit=100)
    assert elapsed >= 1000  # it waited for a window boundary


def test_gap_backfill_fills_in_order_and_drops_duplicates() -> None:
    async def body(sim: RunningSimulator, rest: BinanceRest, clock: RunClock) -> None:
        trades = await rest.agg_trades("ETHUSDT", limit=200)
        assert len(trades) >= 60, "the simulator should have produced trades during warm-up"
        reports: list[GapReport] = []
        filler = AggTradeGapFiller(rest, clock, page_limit=7, max_pages=20, on_gap=reports.append)
        first, later = trades[0], trades[50]
        assert await filler.admit(first) == [first]
        out = await filler.admit(later)
        assert [t.agg_id for t in out] == list(range(first.agg_id + 1, later.agg_id + 1))
        assert [t.source for t in out[:-1]] == ["backfill"] * 49 and out[-1] is later
        assert [(t.price, t.qty) for t in out[:-1]] == [(t.price, t.qty) for t in trades[1:50]]
        assert await filler.admit(trades[10]) == [] and filler.duplicates == 1
        assert reports == [GapReport("ETHUSDT", first.agg_id + 1, later.agg_id - 1, 49, None)]
        # Bounded: 2 pages of 7 cannot fill 49 ids; the rest is reported, never invented.
        bounded = AggTradeGapFiller(rest, clock, page_limit=7, max_pages=2, attempts=1, on_gap=reports.append)
        await bounded.admit(first)
        assert len(await bounded.admit(later)) == 15 and reports[-1].missing == 35 and bounded.unfilled == 35

    with_sim(body, warmup_ms=60_000)


def test_health_checker_rounds_and_latency_samples() -> None:
    async def body(sim: RunningSimulator, rest: BinanceRest, clock: RunClock) -> None:
        events: list[dict[str, Any]] = []
        samples: list[Any] = []
        checker = HealthChecker(
            rest, HealthPolicy(clock.now_ms()), clock, events.append, interval_s=5, exchange_info_interval_s=20,
            symbols=SYMBOLS, on_latency=samples.append,
        )  # fmt: skip
        task = asyncio.create_task(checker.run())
        await asyncio.sleep(clock.real_seconds(42_000))
        await checker.close()
        assert await asyncio.wait_for(task, 5) is None
        assert 8 <= len(events) <= 10 and {e["state"] for e in events} == {"OK"}
        assert all(e["role"] == "health_role" for e in events)
        uptimes = [e["uptime_s"] for e in events]
        assert uptimes == sorted(uptimes) and 40 <= uptimes[-1] <= 46
        by_endpoint = {s.endpoint for s in samples}
        assert by_endpoint == {"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo"}
        assert sum(s.endpoint == "/api/v3/exchangeInfo" for s in samples) == 3  # at 0, 20 and 40 s
        assert all(s.ok and s.latency_ms > 0 for s in samples)

    with_sim(body)


def test_a_journaling_client_keeps_only_the_newest_records_in_memory_and_counts_them_all() -> None:
    journal: list[RequestRecord] = []

    async def attempt() -> BinanceRest:
        # Refused locally (a forbidden path): recorded like any request, nothing is sent.
        rest = BinanceRest("http://127.0.0.1:9", 1.0, clock=SteppedClock(), on_request=journal.append, log_size=3)
        try:
            for n in range(5):
                with pytest.raises(ForbiddenRequest):
                    await rest._get("/api/v3/order", {"n": str(n)})
        finally:
            await rest.close()
        return rest

    rest = asyncio.run(asyncio.wait_for(attempt(), 10))
    assert rest.requests_sent == len(journal) == 5
    assert [r.query for r in rest.request_log] == [r.query for r in journal[-3:]] == ["n=2", "n=3", "n=4"]
