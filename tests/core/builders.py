"""Envelope builders shared by the core tests (ids are deterministic, so outputs are too)."""

from __future__ import annotations

from typing import Any

from minibot.contracts.envelope import build_envelope
from minibot.ids import deterministic_id

RUN_ID = "20240808_235413"
CMDLINE_HASH = "0" * 64
T0 = 1_723_161_600_000  # 2024-08-09 00:00:00 UTC, a multiple of every bar interval used in the tests


def env(
    type_: str, payload: dict[str, Any], ts: int, n: int, source: str = "market_role", scope: str = ""
) -> dict[str, Any]:
    """A complete envelope with a deterministic id: unique per (`scope`, `type_`, `n`), so streams built
    separately (one per symbol, say) can be merged when each has its own `scope`."""
    return build_envelope(
        type_=type_,
        payload=payload,
        ts=ts,
        id_=deterministic_id("test", scope, type_, str(n)) if scope else deterministic_id("test", type_, str(n)),
        source=source,
        run_id=RUN_ID,
        cmdline_hash=CMDLINE_HASH,
    )


def tick(
    price: float,
    ts: int,
    n: int,
    spread: float = 0.02,
    qty: float = 1.0,
    symbol: str = "BTCUSDT",
    kind: str = "trade",
    **extra: Any,
) -> dict[str, Any]:
    """A market tick with a quote `spread` wide around `price` and `qty` on both sides."""
    payload = {
        "symbol": symbol,
        "price": price,
        "bid": round(price - spread / 2, 8),
        "ask": round(price + spread / 2, 8),
        "bid_qty": qty,
        "ask_qty": qty,
        "kind": kind,
        "exchange_ts": ts if kind != "book" else None,
        "trade_id": n if kind != "book" else None,
        **extra,
    }
    return env("market_tick", payload, ts, n)
