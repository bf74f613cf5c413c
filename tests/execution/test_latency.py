"""Modelled latency, hand-made tick sequences: an order meets the first tick of its symbol at or after its
decision time + execution.latency_ms, and fills against the book that tick shows (prices computed by hand)."""

from __future__ import annotations

from typing import Any

from minibot.contracts.core import Output
from minibot.execution import ExecutionCore

from ..core.builders import T0, env, tick
from ..core.fixtures import default_section, exchange_filters
from .test_executor import intent

LATENCY = 100


def core(**changes: Any) -> ExecutionCore:
    cfg = default_section("execution")
    cfg.update({"latency_ms": LATENCY, **changes})
    return ExecutionCore(exchange_filters(), cfg)


def fills(out: list[Output]) -> list[tuple[float, float, str]]:
    return [(o.payload["price"], o.payload["qty"], o.payload["liquidity"]) for o in out if o.type == "fill"]


def book(bid: float, ask: float, ts: int, n: int, symbol: str = "BTCUSDT", qty: float = 1.0) -> dict[str, Any]:
    """A book tick with the given best bid / ask."""
    payload = {
        "symbol": symbol,
        "price": (bid + ask) / 2,
        "bid": bid,
        "ask": ask,
        "bid_qty": qty,
        "ask_qty": qty,
        "kind": "book",
        "exchange_ts": None,
        "trade_id": None,
    }
    return env("market_tick", payload, ts, n)


def test_market_order_fills_at_the_first_tick_of_its_symbol_after_the_latency() -> None:
    ex = core()
    ex.step(book(99.99, 100.01, T0, 1))
    assert ex.step(intent("BUY", 0.5, T0)) == []  # decided at T0: in flight until T0 + 100
    assert ex.step(book(100.09, 100.11, T0 + 60, 2)) == []  # its symbol, but before the arrival time
    assert ex.step(book(2999.0, 3001.0, T0 + 120, 3, symbol="ETHUSDT")) == []  # arrival time passed: other symbol
    out = ex.step(book(100.19, 100.21, T0 + 130, 4))  # first BTCUSDT tick at or after T0 + 100
    assert fills(out) == [(100.21, 0.5, "TAKER")]
    assert out[0].payload["fee"] == 0.050105  # 100.21 * 0.5 * 10 bps
    assert out[0].payload["tick_id"] == book(100.19, 100.21, T0 + 130, 4)["id"]
    assert out[-1].payload["result"] == "FILLED" and ex.in_flight == 0


def test_a_tick_exactly_at_the_arrival_time_is_the_one() -> None:
    ex = core()
    ex.step(book(99.99, 100.01, T0, 1))
    ex.step(intent("BUY", 0.2, T0))
    assert fills(ex.step(book(100.49, 100.51, T0 + LATENCY, 2))) == [(100.51, 0.2, "TAKER")]


def test_a_gap_longer_than_the_latency_fills_at_the_tick_after_the_gap() -> None:
    ex = core()
    ex.step(book(99.99, 100.01, T0, 1, qty=0.3))
    ex.step(intent("BUY", 0.5, T0))
    # No BTCUSDT tick for 4 s (< max_quote_age_ms): the order meets the book after the gap. 0.3 at the ask
    # 101.01, the remaining 0.2 at 101.01 * (1 + 2 bps) = 101.030202, rounded up to the tick: 101.04.
    out = ex.step(book(100.99, 101.01, T0 + 4000, 2, qty=0.3))
    assert fills(out) == [(101.01, 0.3, "TAKER"), (101.04, 0.2, "TAKER")]
    assert out[-1].payload["avg_price"] == 101.022  # (101.01 * 0.3 + 101.04 * 0.2) / 0.5


def test_latency_zero_still_waits_for_the_next_tick() -> None:
    ex = core(latency_ms=0)
    ex.step(book(99.99, 100.01, T0, 1))
    assert ex.step(intent("BUY", 0.1, T0)) == []  # decided after tick 1 was seen: it cannot meet tick 1
    assert fills(ex.step(book(99.98, 100.0, T0, 2))) == [(100.0, 0.1, "TAKER")]


def test_resting_limit_fills_on_the_third_later_tick() -> None:
    ex = core()
    ex.step(book(99.99, 100.01, T0, 1))
    ex.step(intent("BUY", 0.5, T0, order_type="LIMIT", price=99.5))
    placed = ex.step(book(99.89, 99.91, T0 + 100, 2))  # arrives: ask 99.91 > 99.50, so it rests
    assert [o.payload["result"] for o in placed] == ["NEW"]
    assert ex.step(tick(99.7, T0 + 200, 3)) == []  # 1st later tick: trade 99.70, ask 99.71
    assert ex.step(tick(99.5, T0 + 300, 4, spread=0.0)) == []  # 2nd: trades and asks AT the limit only
    out = ex.step(tick(99.45, T0 + 400, 5))  # 3rd: a trade at 99.45 goes through 99.50
    assert fills(out) == [(99.5, 0.5, "MAKER")]
    assert out[0].payload["fee"] == 0.04975  # 99.5 * 0.5 * 10 bps
    assert out[1].payload["result"] == "FILLED"
