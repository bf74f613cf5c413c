"""The diff-depth stream (`U`/`u` on the `lastUpdateId` counter, 100 ms and 1000 ms), its faults, the book
behind it, and the ticker streams, checked with a plain websockets client and against first principles."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from decimal import Decimal
from typing import Any

import pytest
import websockets

from minibot.marketdata.intervals import MINUTE
from minibot.marketdata.num import E8, fmt8, mul_e8
from minibot.marketdata.symbols import make_spec
from minibot.sim.market import build_market
from minibot.sim.runner import SimConfig, SimulatorThread
from minibot.sim.state import SymbolState
from minibot.sim.tickers import ticker_event
from tests.shared_data import BTC_TRADES

from .conftest import get_json, run

START = 1_800_000_000_000


async def _collect(url: str, seconds: float, during: Any = None, until_ms: int | None = None) -> list[dict[str, Any]]:
    """Combined-stream messages for `seconds` of wall clock, or until an event time `E` >= `until_ms` (then
    `seconds` is only the bound); `during()` runs once, halfway."""
    out: list[dict[str, Any]] = []
    async with websockets.connect(url, open_timeout=10) as ws:
        start = time.monotonic()
        called = during is None
        while time.monotonic() - start < seconds:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            out.append(msg)
            if not called and time.monotonic() - start > seconds / 2:
                called = True
                await during()
            event_ms = msg["data"].get("E", 0) if isinstance(msg["data"], dict) else 0
            if until_ms is not None and event_ms >= until_ms:
                return out
    assert until_ms is None, f"run clock did not reach {until_ms} in {seconds} s"
    return out


def _by_stream(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["data"] for m in messages if m["stream"] == stream]


def _gaps(events: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(previous u, next U) wherever U is not previous u + 1."""
    return [(a["u"], b["U"]) for a, b in itertools.pairwise(events) if b["U"] != a["u"] + 1]


@pytest.mark.process
def test_diff_depth_is_contiguous_and_in_step_with_rest_depth(sim: SimulatorThread) -> None:
    streams = ["btcusdt@depth@100ms", "btcusdt@depth", "ethusdt@depth@100ms", "btcusdt@depth5@100ms"]
    snapshots: list[dict[str, Any]] = []

    async def snapshot() -> None:
        _, _, body = await asyncio.to_thread(get_json, sim.base_url + "/api/v3/depth?symbol=BTCUSDT&limit=5000")
        snapshots.append(body)

    messages = run(lambda: _collect(sim.ws_base_url + "/stream?streams=" + "/".join(streams), 4.0, snapshot))
    for stream, period in (("btcusdt@depth@100ms", 100), ("btcusdt@depth", 1000), ("ethusdt@depth@100ms", 100)):
        events = _by_stream(messages, stream)
        assert len(events) >= (3 if period == 1000 else 20), stream
        assert _gaps(events) == [], stream
        for e in events:
            assert set(e) == {"e", "E", "s", "U", "u", "b", "a"} and e["e"] == "depthUpdate"
            assert e["s"] == stream.split("@")[0].upper() and e["U"] <= e["u"]
            assert all(float(q) >= 0 and len(p.split(".")[1]) == 8 for p, q in e["b"] + e["a"])
        times = [e["E"] for e in events]
        # At most one event per period slot of the run clock.
        assert all(b // period > a // period for a, b in itertools.pairwise(times)), stream
    # Binance's procedure: the first event with u > lastUpdateId has U <= lastUpdateId + 1.
    last_id = snapshots[0]["lastUpdateId"]
    after = [e for e in _by_stream(messages, "btcusdt@depth@100ms") if e["u"] > last_id]
    assert after and after[0]["U"] <= last_id + 1
    assert 100 <= len(snapshots[0]["bids"]) <= 200  # what the book holds, whatever the limit
    # The 1000 ms variant covers the same ids as the 100 ms one, in fewer events.
    fast = _by_stream(messages, "btcusdt@depth@100ms")
    slow = _by_stream(messages, "btcusdt@depth")
    assert slow[-1]["u"] in {e["u"] for e in fast} or slow[-1]["u"] > fast[-1]["u"]


@pytest.mark.process
def test_depth_gap_and_stale_book_faults() -> None:
    speed = 10.0
    scenario = {
        "faults": [
            {"kind": "depth_gap", "at_ms": 10_000, "every_ms": 10_000, "count": 2, "symbols": ["BTCUSDT"]},
            {"kind": "stale_book", "at_ms": 35_000, "duration_ms": 5_000, "symbols": ["ETHUSDT"]},
        ]
    }
    cfg = SimConfig(symbols=["BTCUSDT", "ETHUSDT"], speed=speed, seed=5, scenario=scenario)
    with SimulatorThread(cfg) as sim:
        streams = "btcusdt@depth@100ms/ethusdt@depth@100ms/ethusdt@depth5@100ms"
        # Windows count from the simulator's start; the client is subscribed well before the first one.
        end_ms = sim.running.ctx.clock.start_ms + 42_000
        messages = run(lambda: _collect(sim.ws_base_url + "/stream?streams=" + streams, 30, until_ms=end_ms))
        stats = sim.stats()
    first_event_ms = next(m["data"]["E"] for m in messages if "E" in m["data"])
    assert first_event_ms < sim.running.ctx.clock.start_ms + 10_000, "subscribed too late"
    btc = _by_stream(messages, "btcusdt@depth@100ms")
    gaps = _gaps(btc)
    assert len(gaps) == 2 and all(nxt > prev + 1 for prev, nxt in gaps), gaps
    assert stats["faults_injected"]["depth_gap"] == 2
    # ETHUSDT: the diff stream pauses during the stale window and resumes contiguously; the partial
    # stream repeats one payload meanwhile.
    eth = _by_stream(messages, "ethusdt@depth@100ms")
    assert _gaps(eth) == []
    pauses = [b["E"] - a["E"] for a, b in itertools.pairwise(eth)]
    assert max(pauses) >= 4_800
    # The partial pushes that arrived inside the diff stream's pause (one connection keeps the order) all
    # repeat one book. How many there are depends on wall-clock timing (a late timer skips slots), so only
    # a floor far below the window's 50 slots is asserted.
    eth_at = [i for i, m in enumerate(messages) if m["stream"] == "ethusdt@depth@100ms"]
    paused_after = max(range(len(pauses)), key=pauses.__getitem__)
    inside = messages[eth_at[paused_after] + 1 : eth_at[paused_after + 1]]
    frozen = [m["data"]["lastUpdateId"] for m in inside if m["stream"] == "ethusdt@depth5@100ms"]
    assert len(frozen) >= 5 and len(set(frozen)) == 1, frozen
    assert stats["faults_injected"]["stale_book"] > 0


@pytest.mark.usefixtures("binance_data")
def test_replayed_trades_consume_their_level() -> None:
    m = build_market([], [BTC_TRADES], seed=0, start_ms=START)
    st = m.states["BTCUSDT"]
    seen = 0
    t = START
    while seen < 3000:
        t += 7
        before = len(st.aggs)
        m.advance_to(t)
        new = st.aggs[before:]
        if not new:
            continue
        seen += len(new)
        last = new[-1]
        # The last trade's price is the best of the side it took, and the book is not crossed.
        taken = st.bid if last.m else st.ask
        assert taken == last.p, (last, st.bid, st.ask)
        assert st.bid < st.ask
        bids, asks = st.depth(200)
        assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
        assert all(q > 0 for _, q in bids + asks)


def test_a_trade_shrinks_the_level_by_its_quantity() -> None:
    st = SymbolState(make_spec("BTCUSDT"), 100, deep=True)
    tick = st.spec.tick
    ask = 60_000 * E8
    st.set_book(1, ask - tick, 5 * E8, ask, 2 * E8)
    second = st.book.asks.nth_price(1)
    id_before = st.update_id
    st.print_trade(2, True, ask, E8 // 2, 9 * E8, None)
    assert (st.ask, st.ask_qty) == (ask, 2 * E8 - E8 // 2) and st.update_id == id_before + 1
    # A buy printing at the second level swept the first; the level shows less than traded: refilled.
    st.print_trade(3, True, second, 1000 * E8, 3 * E8, None)
    assert (st.ask, st.ask_qty) == (second, 3 * E8) and ask not in st.book.asks.qty
    assert st.bid < st.ask


def _brute_force_window(st: SymbolState, now: int, window_ms: int) -> dict[str, str | int]:
    """The rolling-window statistics straight from the trades (window opening on a whole minute)."""
    start = now - window_ms
    lo = start - start % MINUTE
    aggs = [a for a in st.aggs if lo <= a.T <= now]
    vol = sum(a.q for a in aggs)
    quote = sum(mul_e8(a.p, a.q) for a in aggs)
    o, c = aggs[0].p, aggs[-1].p
    change = Decimal(c - o) / Decimal(o) * 100
    return {
        "o": fmt8(o),
        "h": fmt8(max(a.p for a in aggs)),
        "l": fmt8(min(a.p for a in aggs)),
        "c": fmt8(c),
        "v": fmt8(vol),
        "q": fmt8(quote),
        "w": fmt8(quote * E8 // vol),
        "p": fmt8(c - o),
        "P": f"{change.quantize(Decimal('0.001'))}",
        "F": aggs[0].f,
        "L": aggs[-1].l,
        "n": sum(a.l - a.f + 1 for a in aggs),
        "O": start,
        "C": now,
    }


def test_rolling_window_tickers_equal_the_trades() -> None:
    m = build_market(["SOLUSDT"], [], seed=3, start_ms=START)
    st = m.states["SOLUSDT"]
    # The ticker comes from 1-minute bars; the reference below sums the raw trades, so keep all of them
    # (a synthetic symbol forgets trades older than TRADES_KEPT_MS).
    st.keep_ms = 2 * 60 * MINUTE
    now = START + 65 * MINUTE + 12_345
    m.advance_to(now)
    event = ticker_event(st, now, 1, "window", "1h")
    expected = _brute_force_window(st, now, 60 * MINUTE)
    assert event["e"] == "1hTicker" and event["E"] == now and event["s"] == "SOLUSDT"
    assert {k: event[k] for k in expected} == expected
    assert event["n"] == event["L"] - event["F"] + 1  # contiguous trade ids
    mini = ticker_event(st, now, 1, "miniTicker")
    assert set(mini) == {"e", "E", "s", "c", "o", "h", "l", "v", "q"} and mini["c"] == expected["c"]


@pytest.mark.process
def test_ticker_streams_carry_binance_fields(sim: SimulatorThread) -> None:
    streams = [
        "btcusdt@ticker",
        "btcusdt@miniTicker",
        "btcusdt@ticker_1h",
        "ethusdt@ticker_4h",
        "btcusdt@avgPrice",
        "!ticker@arr",
        "!miniTicker@arr",
        "!ticker_1d@arr",
    ]
    messages = run(lambda: _collect(sim.ws_base_url + "/stream?streams=" + "/".join(streams), 2.5))
    got = {m["stream"]: m["data"] for m in messages}
    assert set(got) == set(streams)
    full = got["btcusdt@ticker"]
    assert list(full) == [
        "e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A",
        "o", "h", "l", "v", "q", "O", "C", "F", "L", "n",
    ]  # fmt: skip
    assert full["e"] == "24hrTicker" and full["C"] - full["O"] == 86_400_000 and full["C"] == full["E"]
    price = {k: Decimal(full[k]) for k in ("o", "h", "l", "c", "w", "b", "a", "p")}
    assert price["l"] <= min(price["o"], price["c"]) and max(price["o"], price["c"]) <= price["h"]
    assert price["l"] <= price["w"] <= price["h"] and price["b"] < price["a"]
    assert price["p"] == price["c"] - price["o"] and full["n"] == full["L"] - full["F"] + 1
    window = got["btcusdt@ticker_1h"]
    assert window["e"] == "1hTicker" and window["C"] - window["O"] == 3_600_000
    assert set(window) == set(full) - {"x", "Q", "b", "B", "a", "A"}
    assert got["ethusdt@ticker_4h"]["e"] == "4hTicker" and got["ethusdt@ticker_4h"]["s"] == "ETHUSDT"
    assert set(got["btcusdt@miniTicker"]) == {"e", "E", "s", "c", "o", "h", "l", "v", "q"}
    avg = got["btcusdt@avgPrice"]
    assert set(avg) == {"e", "E", "s", "i", "w", "T"} and avg["e"] == "avgPrice" and avg["i"] == "5m"
    for name, etype in (
        ("!ticker@arr", "24hrTicker"),
        ("!miniTicker@arr", "24hrMiniTicker"),
        ("!ticker_1d@arr", "1dTicker"),
    ):
        arr = got[name]
        assert isinstance(arr, list) and {t["s"] for t in arr} <= {"BTCUSDT", "ETHUSDT"}
        assert all(t["e"] == etype for t in arr)
    # The first array carries every symbol; later ones only those that changed (here: all, the market moves).
    first_arr = next(m["data"] for m in messages if m["stream"] == "!miniTicker@arr")
    assert {t["s"] for t in first_arr} == {"BTCUSDT", "ETHUSDT"}
    served = sim.stats()["ws"]["served"]
    assert all(served.get(name, 0) >= 1 for name in streams)


def test_the_deep_book_is_filled_in_on_first_demand_without_changing_the_tape() -> None:
    plain = build_market(["BTCUSDT"], [], seed=9, start_ms=START)
    watched = build_market(["BTCUSDT"], [], seed=9, start_ms=START)
    a, b = plain.states["BTCUSDT"], watched.states["BTCUSDT"]
    assert len(a.book.bids) == 0 and not a.book.deep  # nobody asked: top of book only
    bids, asks = b.depth(50)
    assert len(bids) == len(asks) == 50 and bids[0] == (b.bid, b.bid_qty) and asks[0] == (b.ask, b.ask_qty)
    plain.advance_to(START + 120_000)
    watched.advance_to(START + 120_000)
    # The trades and the top of book are the same whether or not a client keeps the deep book.
    assert a.aggs == b.aggs and (a.bid, a.bid_qty, a.ask, a.ask_qty) == (b.bid, b.bid_qty, b.ask, b.ask_qty)
    assert b.update_id == a.update_id + 1  # filling the book in was one update
    assert 100 <= len(b.book.bids) <= 200 and 100 <= len(b.book.asks) <= 200
