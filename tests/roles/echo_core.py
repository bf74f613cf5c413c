"""A minimal pure core for runner and crash tests: one `signal` per `market_tick`, caused by it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.contracts.core import Output


class EchoCore:
    """Emits one signal per tick; its state (a running count) makes replay order matter."""

    def __init__(self) -> None:
        self.count = 0

    def step(self, event: Mapping[str, Any]) -> list[Output]:
        """One signal per tick, numbered, so a replay that skipped or repeated a tick would diverge."""
        self.count += 1
        p = event["payload"]
        return [
            Output(
                "signal",
                {
                    "symbol": p["symbol"],
                    "side": "BUY",
                    "score": float(self.count),
                    "confidence": 0.5,
                    "horizon_ms": 1000,
                    "reason": {"mode": "echo", "n": self.count},
                    "price": p["price"],
                    "bid": p["bid"],
                    "ask": p["ask"],
                    "bid_qty": p["bid_qty"],
                    "ask_qty": p["ask_qty"],
                    "cause_id": event["id"],
                },
            )
        ]
