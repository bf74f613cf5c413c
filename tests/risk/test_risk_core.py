"""RiskCore end to end: intents and their ids, sizing, REJECTs at their limits, STOPs, kill switch."""

from __future__ import annotations

import re
from typing import Any

import pytest

from minibot.contracts.core import Output
from minibot.contracts.envelope import validate_event
from minibot.reasons import ContractViolation
from minibot.risk import RiskCore

from ..core.builders import T0, env, tick
from ..core.fixtures import exchange_filters
from .helpers import buy_and_fill, fill_for, result_for, risk_cfg, signal

DAY_MS = 86_400_000


def core(**changes: Any) -> RiskCore:
    return RiskCore(risk_cfg(**changes), 10_000.0, exchange_filters())


def validate(out: list[Output]) -> None:
    for i, o in enumerate(out):
        validate_event(env(o.type, o.payload, T0, 800_000 + i, source="risk_role"))


def reject_code(out: list[Output]) -> str | None:
    assert len(out) == 1
    return out[0].payload["reason_code"] if out[0].type == "risk_action" else None


def test_buy_signal_becomes_a_sized_intent_with_a_derived_client_id() -> None:
    rc = core()
    rc.step(tick(100.0, T0, 1))
    sig = signal("BUY", T0)
    out = rc.step(sig)
    validate(out)
    intent = out[0].payload
    assert intent["client_order_id"] == "nore-" + sig["id"].replace("-", "")[:24]
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,36}", intent["client_order_id"])
    assert (intent["side"], intent["order_type"], intent["cause_id"]) == ("BUY", "MARKET", sig["id"])
    assert intent["tick_id"] == sig["payload"]["cause_id"]  # links the order to its tick for tick -> fill timing
    assert intent["qty"] == 4.9995  # 500 / 100.01 rounded down to the 0.00001 step
    assert intent["notional"] == pytest.approx(4.9995 * 100.01)
    assert (intent["bid"], intent["ask"]) == (99.99, 100.01)


def test_equity_fraction_sizing_and_limit_orders() -> None:
    rc = core(
        sizing={"mode": "equity_fraction", "quote_notional": 500.0, "equity_fraction": 0.02},
        order_type="LIMIT",
        limit_offset_bps=10.0,
    )
    rc.step(tick(100.0, T0, 1))
    intent = rc.step(signal("BUY", T0))[0].payload
    assert intent["price"] == 99.89  # 99.99 * (1 - 10 bps) = 99.89001, rounded down to the tick
    assert intent["qty"] == 2.00220  # 200 / 99.89 rounded down
    validate([Output("order_intent", intent)])


def test_sell_closes_the_whole_position_and_needs_one() -> None:
    rc = core()
    rc.step(tick(100.0, T0, 1))
    assert reject_code(rc.step(signal("SELL", T0))) == "NO_POSITION"
    bought = buy_and_fill(rc, T0)
    intent = rc.step(signal("SELL", T0 + 1))[0].payload
    assert (intent["side"], intent["qty"]) == ("SELL", bought["qty"])
    # While that SELL is open, the position is spoken for.
    assert reject_code(rc.step(signal("SELL", T0 + 2))) == "NO_POSITION"


def test_open_buys_count_towards_position_limits_until_final() -> None:
    rc = core(max_position_notional_quote=900.0)
    rc.step(tick(100.0, T0, 1))
    first = rc.step(signal("BUY", T0))[0].payload
    assert reject_code(rc.step(signal("BUY", T0))) == "MAX_POSITION_NOTIONAL"
    rc.step(result_for(first, T0, status="REJECTED"))  # the executor refused it: reservation released
    assert rc.step(signal("BUY", T0))[0].type == "order_intent"


@pytest.mark.parametrize(("age", "ok"), [(4999, True), (5000, True), (5001, False)])
def test_stale_signal(age: int, ok: bool) -> None:
    rc = core()
    rc.step(tick(100.0, T0, 1))
    rc.step(tick(3000.0, T0 + age, 2, symbol="ETHUSDT"))  # now = T0 + age
    out = rc.step(signal("BUY", T0))
    assert (out[0].type == "order_intent") == ok
    if not ok:
        assert reject_code(out) == "STALE_MARKET_DATA"


def test_buy_refused_while_a_held_symbol_has_stale_marks() -> None:
    rc = core()
    buy_and_fill(rc, T0)
    rc.step(tick(3000.0, T0 + 5001, 2, symbol="ETHUSDT"))
    assert reject_code(rc.step(signal("BUY", T0 + 5001, price=3000.0, symbol="ETHUSDT"))) == "STALE_MARKET_DATA"
    rc.step(tick(100.0, T0 + 5001, 3))  # a fresh BTC mark
    assert rc.step(signal("BUY", T0 + 5001, price=3000.0, symbol="ETHUSDT"))[0].type == "order_intent"


@pytest.mark.parametrize(("delta", "ok"), [(-1e-9, True), (0.0, True), (1e-9, False)])
def test_max_spread(delta: float, ok: bool) -> None:
    bid, ask = 99.95, 100.05
    at = (ask - bid) / ((ask + bid) / 2) * 1e4
    rc = core(max_spread_bps=at - delta)
    rc.step(tick(100.0, T0, 1))
    out = rc.step(signal("BUY", T0, spread=0.1))
    assert (out[0].type == "order_intent") == ok
    if not ok:
        assert reject_code(out) == "MAX_SPREAD"


def test_frequency_limits_apply() -> None:
    rc = core(min_gap_per_symbol_ms=1000)
    rc.step(tick(100.0, T0, 1))
    assert rc.step(signal("BUY", T0))[0].type == "order_intent"
    assert reject_code(rc.step(signal("BUY", T0 + 999))) == "MIN_GAP_PER_SYMBOL"
    rc = core(max_trades_per_window=1, trade_window_ms=60_000)
    rc.step(tick(100.0, T0, 1))
    rc.step(signal("BUY", T0))
    assert reject_code(rc.step(signal("BUY", T0 + 1))) == "MAX_TRADES_PER_WINDOW"


def test_cooldown_after_consecutive_losing_round_trips() -> None:
    rc = core(cooldown_after_losses=2, cooldown_ms=10_000)
    for i in range(2):
        ts = T0 + i * 10
        buy_and_fill(rc, ts)
        sell = rc.step(signal("SELL", ts + 1))[0].payload
        rc.step(fill_for(sell, ts + 1, price=99.0))  # a loss
        rc.step(result_for(sell, ts + 1))
    assert rc.cooldown.until_ts == T0 + 11 + 10_000
    rc.step(tick(100.0, T0 + 20, 99))
    assert reject_code(rc.step(signal("BUY", T0 + 20))) == "COOLDOWN_AFTER_LOSSES"
    assert rc.step(signal("SELL", T0 + 20)) and reject_code(rc.step(signal("SELL", T0 + 20))) == "NO_POSITION"


def test_entry_limits_reach_the_core() -> None:
    sizing = {"mode": "fixed_quote", "quote_notional": 1000.01, "equity_fraction": 0.05}
    rc = RiskCore(risk_cfg(sizing=sizing, max_order_notional_quote=1000.0), 10_000.0)  # no filters: 1e-8 grid
    rc.step(tick(1.0, T0, 1))  # 999.91000899 x ask 1.0001 = 1000.00999...
    assert reject_code(rc.step(signal("BUY", T0, price=1.0, spread=0.0002))) == "MAX_ORDER_NOTIONAL"
    rc = core(sizing={"mode": "fixed_quote", "quote_notional": 4.0, "equity_fraction": 0.05})
    rc.step(tick(100.0, T0, 1))
    assert reject_code(rc.step(signal("BUY", T0))) == "FILTER_MIN_NOTIONAL"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"max_drawdown_pct": 1.0}, "RISK_MAX_DRAWDOWN"),
        ({"loss_limit_run_quote": 100.0, "max_drawdown_pct": 50.0}, "RISK_LOSS_LIMIT_RUN"),
        ({"loss_limit_day_quote": 100.0, "max_drawdown_pct": 50.0}, "RISK_LOSS_LIMIT_DAY"),
    ],
)
def test_marks_beyond_a_limit_stop_the_run(changes: dict, code: str) -> None:
    rc = core(
        sizing={"mode": "fixed_quote", "quote_notional": 500.0, "equity_fraction": 0.05},
        max_order_notional_quote=1000.0,
        **changes,
    )
    intent = buy_and_fill(rc, T0, fill_price=100.0)
    qty = intent["qty"]
    at_limit = 100.0 - 100.0 / qty  # mid at which the position has lost exactly 100
    assert rc.step(tick(at_limit + 0.001, T0 + 1, 10, spread=0.0)) == []
    out = rc.step(tick(at_limit - 0.01, T0 + 2, 11, spread=0.0))
    validate(out)
    assert [o.type for o in out] == ["risk_action", "stop_journal"]
    assert out[0].payload["action"] == "STOP" and out[0].payload["reason_code"] == code
    assert out[1].payload["component"] == "risk_role" and out[1].payload["reason_code"] == code
    assert rc.halted == code
    assert rc.step(tick(50.0, T0 + 3, 12)) == []  # no second STOP
    assert reject_code(rc.step(signal("SELL", T0 + 3))) == "KILL_SWITCH"


def test_day_loss_counts_from_the_start_of_the_utc_day() -> None:
    rc = core(loss_limit_day_quote=100.0, loss_limit_run_quote=1000.0, max_drawdown_pct=50.0)
    day_end = (T0 // DAY_MS + 1) * DAY_MS
    intent = buy_and_fill(rc, day_end - 1000, fill_price=100.0)
    lost_90 = 100.0 - 90.0 / intent["qty"]
    assert rc.step(tick(lost_90, day_end - 1, 20, spread=0.0)) == []
    assert rc.step(tick(lost_90, day_end, 21, spread=0.0)) == []  # new day starts at -90
    assert rc.day_start_equity == pytest.approx(10_000.0 - 90.0)
    lost_190 = 100.0 - 190.0 / intent["qty"]
    assert rc.step(tick(lost_190 + 0.001, day_end + 1, 22, spread=0.0)) == []  # < 100 lost within the day
    out = rc.step(tick(lost_190 - 0.01, day_end + 2, 23, spread=0.0))
    assert out[0].payload["reason_code"] == "RISK_LOSS_LIMIT_DAY"


def test_inconsistent_fills_stop() -> None:
    rc = core()
    rc.step(tick(100.0, T0, 1))
    ghost = {**rc.step(signal("BUY", T0))[0].payload, "client_order_id": "nore-ghost"}
    out = rc.step(fill_for(ghost, T0))
    assert out[0].payload["reason_code"] == "RISK_INCONSISTENT" and rc.halted
    rc = core()
    rc.step(tick(100.0, T0, 1))
    intent = rc.step(signal("BUY", T0))[0].payload
    rc.step(fill_for(intent, T0))
    sell = rc.step(signal("SELL", T0))[0].payload
    assert rc.step(fill_for(sell, T0, qty=sell["qty"] * 2))[0].payload["reason_code"] == "RISK_INCONSISTENT"


def test_kill_switch_and_unknown_inputs() -> None:
    rc = core()
    rc.step(tick(100.0, T0, 1))
    rc.halt("STOP.flag present")
    out = rc.step(signal("BUY", T0))
    assert reject_code(out) == "KILL_SWITCH" and "STOP.flag" in out[0].payload["detail"]
    with pytest.raises(ContractViolation):
        rc.step(env("ai_recommendation", {}, T0, 3, source="ai_role"))
