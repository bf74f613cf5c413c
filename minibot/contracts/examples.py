"""One canonical valid payload per event type: used by schema_gate, tests and docs."""

from __future__ import annotations

from typing import Any

_ID = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
_HEX = "ab" * 32

EXAMPLE_PAYLOADS: dict[str, dict[str, Any]] = {
    "market_tick": {
        "symbol": "BTCUSDT",
        "price": 61234.5,
        "bid": 61234.4,
        "ask": 61234.6,
        "bid_qty": 1.2,
        "ask_qty": 0.8,
        "kind": "book",
        "exchange_ts": 1723161255342,
        "trade_id": None,
    },
    "signal": {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "score": 0.8,
        "confidence": 0.6,
        "horizon_ms": 60000,
        "reason": {"mode": "mean_reversion", "rsi": 24.1},
        "price": 61234.5,
        "bid": 61234.4,
        "ask": 61234.6,
        "bid_qty": 1.2,
        "ask_qty": 0.8,
        "cause_id": _ID,
    },
    "risk_action": {
        "action": "REJECT",
        "reason_code": "MAX_SPREAD",
        "detail": "spread 12 bps > 10",
        "cause_id": _ID,
    },
    "order_intent": {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "qty": 0.0016,
        "order_type": "MARKET",
        "client_order_id": "nore-abc123",
        "notional": 97.97,
        "cause_id": _ID,
        "bid": 61234.4,
        "ask": 61234.6,
        "bid_qty": 1.2,
        "ask_qty": 0.8,
    },
    "order_result": {
        "client_order_id": "nore-abc123",
        "result": "FILLED",
        "order_id": "paper-1",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "order_type": "MARKET",
        "requested_qty": 0.0016,
        "filled_qty": 0.0016,
        "avg_price": 61234.6,
        "cause_id": _ID,
    },
    "fill": {
        "order_id": "paper-1",
        "client_order_id": "nore-abc123",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "qty": 0.0016,
        "price": 61234.6,
        "fee": 0.098,
        "fee_asset": "USDT",
        "liquidity": "TAKER",
        "cause_id": _ID,
    },
    "health": {
        "role": "market_role",
        "state": "OK",
        "uptime_s": 12.5,
        "latency_ms": 8.2,
        "endpoint": "/api/v3/ping",
    },
    "stop_journal": {
        "component": "risk_role",
        "reason_code": "RISK_MAX_DRAWDOWN",
        "detail": "drawdown 5.2% > 5%",
    },
    "ai_recommendation": {
        "symbol": "BTCUSDT",
        "direction": "UP",
        "probability": 0.57,
        "model_version": "v000003",
        "feature_hash": _HEX,
        "horizon_ms": 60000,
        "cause_id": _ID,
    },
    "ack": {
        "consumer": "strategy_role",
        "first_line": 0,
        "last_line": 9,
        "last_id": _ID,
        "segment": 0,
        "offset": 4096,
    },
    "input_batch": {"role": "risk_role", "queue": "signals", "first_line": 0, "last_line": 3, "last_id": _ID},
    "queue_recovery": {
        "queue": "market_ticks",
        "file": "inbox.jsonl",
        "offset": 1024,
        "truncated_bytes": 17,
        "detail": "torn tail",
    },
    "deadletter": {
        "queue": "signals",
        "file": "inbox.jsonl",
        "line": 4,
        "offset": 2048,
        "reason_code": "LINE_HASH_MISMATCH",
        "detail": "hash differs",
        "raw_b64": "c2hhMjU2Og==",
    },
    "ai_model_event": {
        "action": "ACTIVATED",
        "version": "v000003",
        "reason": "beats baseline",
        "metrics": {},
    },
    "metrics_snapshot": {"metrics": {"uptime_s": 10}},
    "timing": {"role": "execution_role", "kind": "tick_to_fill", "latency_ms": 3.2, "cause_id": _ID},
    "http_request": {"role": "health_role", "method": "GET", "path": "/api/v3/ping", "status": 200, "latency_ms": 7.5},
    "deploy_event": {"action": "STAGED", "path": "minibot/x.py", "sha256": _HEX, "backup": None},
}

EXAMPLE_RUN_ID = "20261124_220000"
EXAMPLE_CMDLINE_HASH = "0" * 63 + "1"

# Envelope defects and the reason code each must be rejected with (R-T1, R-T7): (name, change, code).
# `change` maps a field to its new value; the value REMOVE deletes the field.
REMOVE = object()
INVALID_ENVELOPES: list[tuple[str, dict[str, Any], str]] = [
    ("extra field", {"extra": 1}, "ENVELOPE_EXTRA_FIELD"),
    ("missing field", {"source": REMOVE}, "ENVELOPE_MISSING_FIELD"),
    ("missing payload", {"payload": REMOVE}, "ENVELOPE_MISSING_FIELD"),
    ("non-v4 id", {"id": "6f1c2d3e-4b5a-1c6d-8e7f-0a1b2c3d4e5f"}, "ENVELOPE_BAD_ID"),
    ("id with wrong variant", {"id": "6f1c2d3e-4b5a-4c6d-1e7f-0a1b2c3d4e5f"}, "ENVELOPE_BAD_ID"),
    ("bad run_id", {"run_id": "2026-11-24 22:00"}, "ENVELOPE_BAD_RUN_ID"),
    ("missing cmdline_hash", {"cmdline_hash": REMOVE}, "CMDLINE_HASH_MISSING"),
    ("upper-case cmdline_hash", {"cmdline_hash": "A" * 64}, "CMDLINE_HASH_MALFORMED"),
    ("short cmdline_hash", {"cmdline_hash": "ab" * 31}, "CMDLINE_HASH_MALFORMED"),
    ("NaN ts", {"ts": float("nan")}, "NON_FINITE_NUMBER"),
    ("ts as string", {"ts": "1723161255342"}, "ENVELOPE_WRONG_TYPE"),
    ("ts as bool", {"ts": True}, "ENVELOPE_WRONG_TYPE"),
    ("unknown type", {"type": "order_cancel"}, "UNKNOWN_EVENT_TYPE"),
    ("wrong schema version", {"v": 2}, "SCHEMA_INVALID"),
]


def example_event(type_: str, **changes: Any) -> dict[str, Any]:
    """A valid envelope around the example payload of `type_`, with `changes` applied (REMOVE deletes)."""
    event: dict[str, Any] = {
        "schema": "nore.event",
        "v": 1,
        "ts": 1723161255342,
        "ts_iso": "2024-08-08T23:54:15.342Z",
        "id": _ID,
        "source": "market_role",
        "type": type_,
        "run_id": EXAMPLE_RUN_ID,
        "cmdline_hash": EXAMPLE_CMDLINE_HASH,
        "payload": dict(EXAMPLE_PAYLOADS[type_]),
    }
    for key, value in changes.items():
        if value is REMOVE:
            event.pop(key, None)
        else:
            event[key] = value
    return event
