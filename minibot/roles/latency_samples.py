"""Latency samples per endpoint (R-B1): the last N wall-clock probe latencies and their p50 / p95 (pure)."""

from __future__ import annotations

from collections import deque
from typing import Any


def quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank q-quantile (0 < q <= 1) of an ascending, non-empty list."""
    rank = max(1, -(-len(ordered) * q // 1))  # ceil(n * q), at least 1
    return ordered[int(rank) - 1]


class LatencySamples:
    """Keeps the last `window` successful-probe latencies of every endpoint; failures are counted."""

    def __init__(self, window: int = 120) -> None:
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window}")
        self.window = window
        self._samples: dict[str, deque[float]] = {}
        self._failures: dict[str, int] = {}

    def add(self, endpoint: str, latency_ms: float | None) -> None:
        """One probe: its latency, or None when it got no documented answer."""
        if latency_ms is None:
            self._failures[endpoint] = self._failures.get(endpoint, 0) + 1
            return
        self._samples.setdefault(endpoint, deque(maxlen=self.window)).append(latency_ms)

    def summary(self) -> dict[str, dict[str, Any]]:
        """`{endpoint: {n, p50_ms, p95_ms, max_ms, failures}}` over the window (latencies None when no sample)."""
        out: dict[str, dict[str, Any]] = {}
        for endpoint in sorted(set(self._samples) | set(self._failures)):
            ordered = sorted(self._samples.get(endpoint, ()))
            out[endpoint] = {
                "n": len(ordered),
                "p50_ms": round(quantile(ordered, 0.5), 3) if ordered else None,
                "p95_ms": round(quantile(ordered, 0.95), 3) if ordered else None,
                "max_ms": round(ordered[-1], 3) if ordered else None,
                "failures": self._failures.get(endpoint, 0),
            }
        return out
