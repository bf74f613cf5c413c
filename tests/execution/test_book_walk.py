"""Book walk: hand-computed paper fills against the depth levels a market tick carries (issue 16 item 3).

BTCUSDT filters (tests/core/fixtures.py): tick 0.01, LOT_SIZE step 0.00001, min notional 5. Shipped fees
10 bps taker and maker, slippage 2 bps, latency 100 ms: an intent decided at T0 executes at the first tick
at or after T0 + 100.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from minibot.contracts.core import Output
from minibot.execution import ExecutionCore
from minibot.model.filters import filters_from_exchange_info

from ..core.builders import T0, env, tick
from ..core.fixtures import EXCHANGE_INFO, default_section, exchange_filters

ASKS = [[60000.00, 0.003], [60000.50, 0.0041234], [60001.00, 0.5]]
BIDS = [[59999.99, 0.004], [59999.50, 0.006], [59998.00, 1.0]]


def core() -> ExecutionCore:
    return ExecutionCore(exchange_filters(), default_section("execution"))


def depth_tick(ts: int, n: int, asks: list[list[float]] = ASKS, bids: list[list[float]] = BIDS) -> dict[str, Any]:
    """A book tick whose level 0 is its bid/ask, as the market role's depth ingest writes it."""
    t = tick(60000.0, ts, n, kind="book", asks=asks, bids=bids, depth_update_id=n)
    t["payload"].update(bid=bids[0][0], ask=asks[0][0], bid_qty=bids[0][1], ask_qty=asks[0][1])
    return t


def intent(n: int, side: str, qty: float, ts: int = T0, **extra: Any) -> dict[str, Any]:
    payload = {
        "symbol": "BTCUSDT",
        "side": side,
        "qty": qty,
        "order_type": "MARKET",
        "client_order_id": f"nore-walk{n}",
        "notional": qty * 60000.0,
        "cause_id": env("x", {}, ts, n)["id"],
        "bid": 59999.99,
        "ask": 60000.00,
        "bid_qty": 0.004,
        "ask_qty": 0.003,
        **extra,
    }
    return env("order_intent", payload, ts, n, source="risk_role")


def legs(out: list[Output]) -> list[tuple[float, float, float, str]]:
    return [
        (o.payload["price"], o.payload["qty"], o.payload["fee"], o.payload["liquidity"])
        for o in out
        if o.type == "fill"
    ]


def result(out: list[Output]) -> dict[str, Any]:
    return next(o.payload for o in out if o.type == "order_result")


def test_buy_walks_three_levels_with_lot_size_rounding_and_fees() -> None:
    ex = core()
    ex.step(depth_tick(T0, 1))
    assert ex.step(intent(2, "BUY", 0.010004)) == []  # the order's qty floors to the step: 0.01
    out = ex.step(depth_tick(T0 + 100, 3))
    # Level 1 whole (0.003); level 2 shows 0.0041234, floored to the step: 0.00412; level 3 the rest 0.00288.
    # Fees 10 bps of each leg's notional: 180 -> 0.18, 247.20206 -> 0.24720206, 172.80288 -> 0.17280288.
    assert legs(out) == [
        (60000.0, 0.003, 0.18, "TAKER"),
        (60000.5, 0.00412, 0.24720206, "TAKER"),
        (60001.0, 0.00288, 0.17280288, "TAKER"),
    ]
    r = result(out)
    assert (r["result"], r["filled_qty"], r["avg_price"]) == ("FILLED", 0.01, 60000.494)  # 600.00494 / 0.01
    assert ex.portfolio.cash == 9399.39505506  # 10000 - 600.00494 - 0.60000494
    assert all(o.payload["tick_id"] == out[0].payload["tick_id"] for o in out if o.type == "fill")


def test_buy_beyond_the_shown_depth_fills_the_rest_at_the_worst_level_plus_slippage() -> None:
    ex = core()
    thin = [[60000.00, 0.003], [60000.50, 0.002]]
    ex.step(depth_tick(T0, 1, asks=thin))
    ex.step(intent(2, "BUY", 0.01))
    out = ex.step(depth_tick(T0 + 100, 3, asks=thin))
    # The 0.005 the book does not show: 60000.50 * (1 + 2 bps) = 60012.5001, rounded UP to the tick.
    assert legs(out) == [
        (60000.0, 0.003, 0.18, "TAKER"),
        (60000.5, 0.002, 0.120001, "TAKER"),
        (60012.51, 0.005, 0.30006255, "TAKER"),
    ]
    assert result(out)["avg_price"] == 60006.355  # (180 + 120.001 + 300.06255) / 0.01


def test_sell_walks_bids_downwards_and_beyond() -> None:
    ex = core()
    ex.step(depth_tick(T0, 1))
    ex.step(intent(2, "BUY", 0.02))
    ex.step(depth_tick(T0 + 100, 3, asks=[[60000.00, 1.0]]))
    assert ex.portfolio.position_qty("BTCUSDT") == 0.02
    ex.step(intent(4, "SELL", 0.015, T0 + 100))
    out = ex.step(depth_tick(T0 + 200, 5))
    # 0.004 at 59999.99 (fee 0.23999996), 0.006 at 59999.50 (0.359997), 0.005 at 59998.00 (0.29999).
    assert legs(out) == [
        (59999.99, 0.004, 0.23999996, "TAKER"),
        (59999.5, 0.006, 0.359997, "TAKER"),
        (59998.0, 0.005, 0.29999, "TAKER"),
    ]
    ex.step(intent(6, "SELL", 0.005, T0 + 200))
    thin = [[59999.99, 0.001]]
    out = ex.step(depth_tick(T0 + 300, 7, bids=thin))
    # 0.004 beyond the book: 59999.99 * (1 - 2 bps) = 59987.990002, rounded DOWN to the tick.
    assert [(p, q) for p, q, _, _ in legs(out)] == [(59999.99, 0.001), (59987.99, 0.004)]
    assert ex.portfolio.position_qty("BTCUSDT") == 0.0


def test_marketable_limit_walks_up_to_its_price_and_rests_the_rest() -> None:
    ex = core()
    ex.step(depth_tick(T0, 1))
    ex.step(intent(2, "BUY", 0.01, order_type="LIMIT", price=60000.5))
    out = ex.step(depth_tick(T0 + 100, 3))
    assert legs(out) == [(60000.0, 0.003, 0.18, "TAKER"), (60000.5, 0.00412, 0.24720206, "TAKER")]
    r = result(out)
    assert (r["result"], r["filled_qty"]) == ("PARTIALLY_FILLED", 0.00712)  # 0.00288 rests at 60000.50


def test_resting_limit_fills_only_when_traded_through() -> None:
    ex = core()
    ex.step(depth_tick(T0, 1))
    ex.step(intent(2, "BUY", 0.01, order_type="LIMIT", price=59990.0))
    assert result(ex.step(depth_tick(T0 + 100, 3)))["result"] == "NEW"
    at_limit = [[59990.0, 2.0], [59991.0, 1.0]]
    assert ex.step(depth_tick(T0 + 200, 4, asks=at_limit, bids=[[59989.99, 1.0]])) == []  # the book touches
    trade_at = tick(59990.0, T0 + 300, 5, spread=0.02)
    assert ex.step(trade_at) == []  # a trade AT the limit: the queue ahead may have taken it
    through = tick(59989.99, T0 + 400, 6, spread=0.02)
    out = ex.step(through)
    # In full at the limit as MAKER: 59990 * 0.01 = 599.90, fee 10 bps = 0.5999.
    assert legs(out) == [(59990.0, 0.01, 0.5999, "MAKER")]
    assert out[0].payload["tick_id"] == through["id"] and result(out)["result"] == "FILLED"


def test_resting_limit_fills_when_the_book_crosses_it() -> None:
    ex = core()
    ex.step(depth_tick(T0, 1))
    ex.step(intent(2, "SELL", 0.001, order_type="LIMIT", price=60010.0))
    assert result(ex.step(depth_tick(T0 + 100, 3)))["reason_code"] == "NO_POSITION"  # nothing to sell yet
    ex.step(intent(4, "BUY", 0.001, T0 + 100))
    ex.step(depth_tick(T0 + 200, 5))
    ex.step(intent(6, "SELL", 0.001, T0 + 200, order_type="LIMIT", price=60010.0))
    assert result(ex.step(depth_tick(T0 + 300, 7)))["result"] == "NEW"
    crossed = depth_tick(T0 + 400, 8, asks=[[60011.0, 1.0]], bids=[[60010.01, 0.5], [60009.0, 1.0]])
    out = ex.step(crossed)
    assert legs(out) == [(60010.0, 0.001, 0.06001, "MAKER")]


def test_same_ticks_give_the_same_fills() -> None:
    def run() -> list[dict[str, Any]]:
        ex = core()
        events = [
            depth_tick(T0, 1),
            intent(2, "BUY", 0.013),
            depth_tick(T0 + 100, 3),
            intent(4, "BUY", 0.002, T0 + 100, order_type="LIMIT", price=59995.0),
            depth_tick(T0 + 200, 5),
            tick(59994.0, T0 + 300, 6),
        ]
        return [o.payload for e in events for o in ex.step(e)]

    first = run()
    assert first == run()
    assert sum(Decimal(str(p["qty"])) for p in first if "liquidity" in p) == Decimal("0.015")


def test_a_market_order_floors_each_level_to_market_lot_sizes_step() -> None:
    info = copy.deepcopy(EXCHANGE_INFO)
    market_lot = next(f for f in info["symbols"][0]["filters"] if f["filterType"] == "MARKET_LOT_SIZE")
    market_lot["stepSize"] = "0.00100000"  # coarser than LOT_SIZE's 0.00001
    ex = ExecutionCore(filters_from_exchange_info(info), default_section("execution"))
    ex.step(depth_tick(T0, 1))
    ex.step(intent(2, "BUY", 0.0109))  # floors to 0.010
    out = ex.step(depth_tick(T0 + 100, 3))
    # Level 2's 0.0041234 floors to 0.004 at this step, so level 3 takes 0.003 instead of 0.00288.
    assert [(p, q) for p, q, _, _ in legs(out)] == [(60000.0, 0.003), (60000.5, 0.004), (60001.0, 0.003)]
