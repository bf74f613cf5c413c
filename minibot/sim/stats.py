"""Counters behind GET /sim/stats: requests per path, weight, statuses, WebSocket traffic, faults, and
violations (any order/account request or signed request: NORE must never send one)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_VIOLATIONS_KEPT = 1000


@dataclass
class Stats:
    """Mutable counters; `snapshot()` returns the JSON-ready dict /sim/stats serves."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    weight_total: int = 0
    violations: list[dict[str, Any]] = field(default_factory=list)
    violations_total: int = 0
    ws_connections_total: int = 0
    ws_connections_open: int = 0
    ws_messages_sent: int = 0
    ws_messages_received: int = 0
    ws_malformed_sent: int = 0
    ws_silenced: int = 0
    ws_slow_consumer_closes: int = 0
    ws_rate_limit_closes: int = 0
    ws_pong_timeouts: int = 0
    faults_injected: Counter[str] = field(default_factory=Counter)
    # Stream name -> messages queued for subscribers (one per subscriber per event).
    ws_served: Counter[str] = field(default_factory=Counter)

    def record_violation(self, entry: dict[str, Any]) -> None:
        """Remember one forbidden request (the newest MAX_VIOLATIONS_KEPT are kept, all are counted)."""
        self.violations_total += 1
        self.violations.append(entry)
        if len(self.violations) > MAX_VIOLATIONS_KEPT:
            del self.violations[0]

    def snapshot(self, extra: dict[str, Any]) -> dict[str, Any]:
        """The /sim/stats document; `extra` adds clock, weight window and active faults."""
        return {
            **extra,
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "statuses": dict(self.statuses),
            "weight_total": self.weight_total,
            "violations_total": self.violations_total,
            "violations": list(self.violations),
            "ws": {
                "connections_total": self.ws_connections_total,
                "connections_open": self.ws_connections_open,
                "messages_sent": self.ws_messages_sent,
                "messages_received": self.ws_messages_received,
                "malformed_sent": self.ws_malformed_sent,
                "silenced": self.ws_silenced,
                "slow_consumer_closes": self.ws_slow_consumer_closes,
                "rate_limit_closes": self.ws_rate_limit_closes,
                "pong_timeouts": self.ws_pong_timeouts,
                "served": dict(self.ws_served),
            },
            "faults_injected": dict(self.faults_injected),
        }
