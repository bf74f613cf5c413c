"""Latency samples and their percentiles.

Every sample is kept (8 bytes each in an `array('d')`), so the percentiles are exact: a 7-hour run makes
at most a few hundred thousand latency observations (a few MB). Percentiles use the nearest-rank
definition (numpy's `inverted_cdf`): p95 is the smallest observed value with at least 95 % of the
samples at or below it, always a latency that really happened, never an interpolation between two.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np

PERCENTILES = (50, 95, 99)


def summarize(samples: array[float] | list[float]) -> dict[str, Any]:
    """count, p50, p95, p99, max and mean of `samples` (ms); the figures are None when there is none."""
    count = len(samples)
    if count == 0:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    data = np.frombuffer(samples, dtype=np.float64) if isinstance(samples, array) else np.asarray(samples)
    p50, p95, p99 = (float(v) for v in np.percentile(data, PERCENTILES, method="inverted_cdf"))
    return {
        "count": count,
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "max": float(data.max()),
        "mean": float(data.mean()),
    }


class Samples:
    """Latency observations of one series (wall-clock milliseconds)."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: array[float] = array("d")

    def add(self, value: float) -> None:
        """Record one observation."""
        self.values.append(float(value))

    def summary(self) -> dict[str, Any]:
        """`summarize` of everything recorded so far."""
        return summarize(self.values)
