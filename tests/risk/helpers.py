"""Builders for the risk tests: configs, signals, fills, and a RiskCore with a position."""

from __future__ import annotations

from itertools import count
from typing import Any

from minibot.risk import RiskCore

from ..core.builders import T0, env, tick
from ..core.fixtures import default_section

_ids = count(50_000)


def risk_cfg(**changes: Any) -> dict[str, Any]:
    """Shipped risk defaults with `changes`; frequency limits relaxed unless a test sets them."""
    cfg = default_section("risk")
    cfg.update({"min_gap_per_symbol_ms": 0, "max_trades_per_window": 1000})
    cfg.update(changes)
    return cfg


def signal(side: str, ts: int = T0, price: float = 100.0, spread: float = 0.02, symbol: str = "BTCUSDT") -> dict:
    """A signal envelope quoting `spread` around `price`."""
    n = next(_ids)
    payload = {
        "symbol": symbol,
        "side": side,
        "score": 0.7 if side == "BUY" else -0.7,
        "confidence": 0.7,
        "horizon_ms": 60_000,
        "reason": {"mode": "test"},
        "price": price,
        "bid": round(price - spread / 2, 8),
        "ask": round(price + spread / 2, 8),
        "bid_qty": 5.0,
        "ask_qty": 5.0,
        "cause_id": env("x", {}, ts, n)["id"],
    }
    return env("signal", payload, ts, n, source="strategy_role")


def fill_for(
    intent: dict[str, Any], ts: int, price: float | None = None, fee: float = 0.0, qty: float | None = None
) -> dict:
    """The execution_role fill envelope that executes `intent` (an order_intent payload) in full."""
    n = next(_ids)
    payload = {
        "order_id": "paper-" + intent["client_order_id"][5:],
        "client_order_id": intent["client_order_id"],
        "symbol": intent["symbol"],
        "side": intent["side"],
        "qty": qty if qty is not None else intent["qty"],
        "price": price if price is not None else (intent["ask"] if intent["side"] == "BUY" else intent["bid"]),
        "fee": fee,
        "fee_asset": "USDT",
        "liquidity": "TAKER",
        "cause_id": env("x", {}, ts, n)["id"],
    }
    return env("fill", payload, ts, n, source="execution_role")


def result_for(intent: dict[str, Any], ts: int, status: str = "FILLED") -> dict:
    """The execution_role order_result envelope for `intent`."""
    n = next(_ids)
    payload = {
        "client_order_id": intent["client_order_id"],
        "result": status,
        "order_id": "paper-x",
        "symbol": intent["symbol"],
        "side": intent["side"],
        "order_type": intent["order_type"],
        "requested_qty": intent["qty"],
        "filled_qty": intent["qty"] if status == "FILLED" else 0.0,
        "avg_price": intent["ask"] if status == "FILLED" else None,
        "cause_id": env("x", {}, ts, n)["id"],
    }
    return env("order_result", payload, ts, n, source="execution_role")


def buy_and_fill(core: RiskCore, ts: int = T0, price: float = 100.0, fill_price: float | None = None) -> dict:
    """Signal a BUY at `price`, fill it (at `fill_price`), finish it; returns the order_intent payload."""
    core.step(tick(price, ts, next(_ids)))
    out = core.step(signal("BUY", ts, price))
    assert [o.type for o in out] == ["order_intent"], out
    intent = out[0].payload
    core.step(fill_for(intent, ts, fill_price))
    core.step(result_for(intent, ts))
    return intent
