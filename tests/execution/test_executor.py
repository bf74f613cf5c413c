"""ExecutionCore: market fills (top of book, depth, slippage), fees, limit orders, rejects, STOP, halt."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from minibot.contracts.core import Output
from minibot.contracts.envelope import validate_event
from minibot.execution import ExecutionCore
from minibot.reasons import ContractViolation, ReasonCode

from ..core.builders import T0, env, tick
from ..core.fixtures import default_section, exchange_filters

_n = iter(range(10_000, 10**9))


def core(**changes: Any) -> ExecutionCore:
    cfg = default_section("execution")
    cfg["latency_ms"] = 0  # these tests are about prices; tests/execution/test_latency.py is about timing
    cfg.update(changes)
    return ExecutionCore(exchange_filters(), cfg)


def submit(ex: ExecutionCore, order: dict[str, Any]) -> list[Output]:
    """The intent goes in flight (no output yet), then reaches the book at the symbol's next tick, which
    repeats the latest quote at decision time + latency: returns what that tick produced."""
    assert ex.step(order) == []
    symbol = order["payload"]["symbol"]
    quote = ex.last_quote(symbol) or tick(100.0, T0, 0, symbol=symbol)["payload"]
    return ex.step(env("market_tick", dict(quote), order["ts"] + ex.latency_ms, next(_n)))


def intent(
    side: str,
    qty: float,
    ts: int = T0,
    order_type: str = "MARKET",
    source: str = "risk_role",
    coid: str | None = None,
    symbol: str = "BTCUSDT",
    **extra: Any,
) -> dict[str, Any]:
    n = next(_n)
    payload = {
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "order_type": order_type,
        "client_order_id": coid or f"nore-test{n}",
        "notional": qty * 100.0,
        "cause_id": env("x", {}, ts, n)["id"],
        "bid": 99.99,
        "ask": 100.01,
        "bid_qty": 1.0,
        "ask_qty": 1.0,
        **extra,
    }
    return env("order_intent", payload, ts, n, source=source)


def by_type(out: list[Output], etype: str) -> list[dict[str, Any]]:
    return [o.payload for o in out if o.type == etype]


def validate(out: list[Output], source: str = "execution_role") -> None:
    for i, o in enumerate(out):
        validate_event(env(o.type, o.payload, T0, 900_000 + i, source=source))


def test_market_buy_inside_top_of_book_pays_taker_fee() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1))  # bid 99.99 / ask 100.01, 1.0 each
    out = submit(ex, intent("BUY", 0.5, T0))
    validate(out)
    assert [o.type for o in out] == ["fill", "order_result"]  # fills first, then the result
    fill, result = out[0].payload, out[1].payload
    assert (fill["price"], fill["qty"], fill["liquidity"], fill["fee_asset"]) == (
        100.01,
        0.5,
        "TAKER",
        "USDT",
    )
    assert fill["fee"] == 0.050005  # 100.01 * 0.5 * 10 bps
    assert (result["result"], result["filled_qty"], result["avg_price"]) == ("FILLED", 0.5, 100.01)
    assert result["order_id"].startswith("paper-") and fill["order_id"] == result["order_id"]
    assert ex.portfolio.cash == 9949.944995  # 10000 - 50.005 - 0.050005


def test_market_order_beyond_top_of_book_gets_slippage() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1, qty=0.3))
    fills = by_type(submit(ex, intent("BUY", 0.5, T0)), "fill")
    # 0.3 at the ask, the remaining 0.2 at ask * (1 + 2 bps) rounded UP to the tick: 100.030002 -> 100.04.
    assert [(f["price"], f["qty"]) for f in fills] == [(100.01, 0.3), (100.04, 0.2)]
    assert by_type(submit(ex, intent("SELL", 0.5, T0)), "fill")[1]["price"] == 99.97  # 99.99 * (1 - 2 bps), down


def test_market_order_walks_known_depth() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1, asks=[[100.01, 0.2], [100.02, 0.2], [100.05, 1.0]]))
    out = submit(ex, intent("BUY", 0.5, T0 - 1))  # the book tick is newer than the intent's quote
    fills = by_type(out, "fill")
    assert [(f["price"], f["qty"]) for f in fills] == [(100.01, 0.2), (100.02, 0.2), (100.05, 0.1)]
    expected_avg = (Decimal("100.01") * 2 + Decimal("100.02") * 2 + Decimal("100.05")) / 5
    assert by_type(out, "order_result")[0]["avg_price"] == float(expected_avg)


@pytest.mark.parametrize(
    ("side", "qty", "extra", "code"),
    [
        ("SELL", 0.1, {}, "NO_POSITION"),
        ("BUY", 200.0, {"order_type": "LIMIT", "price": 100.0}, "INSUFFICIENT_CASH"),
        ("BUY", 0.000001, {}, "FILTER_LOT_SIZE"),
        ("BUY", 0.04, {}, "FILTER_MIN_NOTIONAL"),  # 0.04 * 100.01 = 4.0004 < 5
        ("BUY", 0.1, {"symbol": "DOGEUSDT"}, "UNKNOWN_SYMBOL"),
        ("BUY", 0.1, {"order_type": "LIMIT", "price": 0.001}, "FILTER_PRICE"),
    ],
)
def test_rejections(side: str, qty: float, extra: dict, code: str) -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1))
    out = submit(ex, intent(side, qty, T0, **extra))
    validate(out)
    assert [o.type for o in out] == ["order_result"]
    assert (out[0].payload["result"], out[0].payload["reason_code"]) == ("REJECTED", code)
    assert ex.portfolio.fills == 0


def test_min_notional_at_the_limit_passes() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1, spread=0.0))  # ask exactly 100.00
    assert by_type(submit(ex, intent("BUY", 0.05, T0 - 1)), "order_result")[0]["result"] == "FILLED"  # 5.00


def test_in_flight_order_without_a_tick_of_its_symbol_expires_stale() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1))
    assert ex.step(intent("BUY", 0.1, T0)) == []
    assert ex.step(tick(3000.0, T0 + 5000, 2, symbol="ETHUSDT")) == []  # exactly max_quote_age_ms: waits
    result = by_type(ex.step(tick(3000.0, T0 + 5001, 3, symbol="ETHUSDT")), "order_result")[0]
    assert (result["result"], result["reason_code"]) == ("REJECTED", "STALE_MARKET_DATA")
    assert ex.in_flight == 0


def test_foreign_source_is_a_stop_and_halts() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1))
    out = ex.step(intent("BUY", 0.1, T0, source="ai_role"))
    validate(out)
    assert [o.type for o in out] == ["stop_journal"]
    assert out[0].payload["reason_code"] == ReasonCode.EXECUTION_SOURCE_NOT_ALLOWED.value
    assert out[0].payload["component"] == "execution_role" and ex.halted
    assert by_type(submit(ex, intent("BUY", 0.1, T0)), "order_result")[0]["reason_code"] == "KILL_SWITCH"


def test_limit_buy_rests_then_fills_only_when_traded_through() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1))
    out = submit(ex, intent("BUY", 0.5, T0, order_type="LIMIT", price=99.004))
    assert by_type(out, "order_result")[0]["result"] == "NEW" and not by_type(out, "fill")
    assert ex.step(tick(99.0, T0 + 1, 2, spread=0.04)) == []  # trades AT the limit (99.00): not enough
    touch = tick(99.0, T0 + 2, 3, spread=0.0, kind="book")  # ask == limit: not through either
    assert ex.step(touch) == []
    through = tick(98.99, T0 + 3, 4, spread=0.04)
    out = ex.step(through)
    validate(out)
    fill, result = out[0].payload, out[1].payload
    assert (fill["price"], fill["qty"], fill["liquidity"]) == (99.0, 0.5, "MAKER")  # 99.004 rounded down
    assert fill["fee"] == 0.0495 and fill["cause_id"] == through["id"]
    assert (result["result"], result["filled_qty"], result["cause_id"]) == ("FILLED", 0.5, through["id"])


def test_limit_sell_fills_when_the_bid_rises_through_it() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1))
    submit(ex, intent("BUY", 0.5, T0))
    assert (
        by_type(submit(ex, intent("SELL", 0.5, T0, order_type="LIMIT", price=101.0)), "order_result")[0]["result"]
        == "NEW"
    )
    out = ex.step(tick(101.02, T0 + 1, 2, kind="book"))  # bid 101.01 > 101.00
    assert by_type(out, "fill")[0]["price"] == 101.0 and ex.portfolio.position_qty("BTCUSDT") == 0.0


def test_limit_expires_and_releases_its_cash() -> None:
    ex = core(limit_ttl_ms=1000, initial_cash=100.0)
    ex.step(tick(100.0, T0, 1))
    submit(ex, intent("BUY", 0.9, T0, order_type="LIMIT", price=99.0))
    assert by_type(submit(ex, intent("BUY", 0.5, T0)), "order_result")[0]["reason_code"] == "INSUFFICIENT_CASH"
    assert ex.step(tick(100.0, T0 + 1000, 2)) == []  # at the TTL: still resting
    out = ex.step(tick(100.0, T0 + 1001, 3))
    assert by_type(out, "order_result")[0]["result"] == "EXPIRED"
    assert by_type(submit(ex, intent("BUY", 0.5, T0 + 1001)), "order_result")[0]["result"] == "FILLED"


def test_marketable_limit_takes_what_it_can_and_rests_the_rest() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1, qty=0.3))
    out = submit(ex, intent("BUY", 0.5, T0 - 1, order_type="LIMIT", price=100.02))
    assert [(f["price"], f["qty"], f["liquidity"]) for f in by_type(out, "fill")] == [(100.01, 0.3, "TAKER")]
    result = by_type(out, "order_result")[0]
    assert (result["result"], result["filled_qty"]) == ("PARTIALLY_FILLED", 0.3)
    out = ex.step(tick(99.9, T0 + 1, 2))  # trades below 100.02
    assert by_type(out, "order_result")[0]["filled_qty"] == 0.5


def test_halt_freezes_resting_orders_and_rejects_new_ones() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1))
    submit(ex, intent("BUY", 0.5, T0, order_type="LIMIT", price=99.0))
    ex.halt("STOP.flag present")
    assert ex.step(tick(90.0, T0 + 1, 2)) == []
    assert by_type(submit(ex, intent("BUY", 0.1, T0 + 1)), "order_result")[0]["reason_code"] == "KILL_SWITCH"


def test_contract_violations_raise() -> None:
    ex = core()
    ex.step(tick(100.0, T0, 1))
    ex.step(intent("BUY", 0.1, T0, coid="nore-dup"))
    with pytest.raises(ContractViolation) as dup:
        ex.step(intent("BUY", 0.1, T0, coid="nore-dup"))
    assert dup.value.reason_code == ReasonCode.DUPLICATE_ID
    with pytest.raises(ContractViolation):
        ex.step(intent("HOLD", 0.1, T0))
    with pytest.raises(ContractViolation):
        ex.step(intent("BUY", float("nan"), T0))
    with pytest.raises(ContractViolation):
        ex.step(env("signal", {}, T0, 5, source="strategy_role"))
