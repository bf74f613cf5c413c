"""Latency samples and their percentiles.

Every sample is kept (8 bytes each in an `array('d')`), so the percentiles are exact: a 7-hour run makes
at most a few hundred thousand latency observations (a few MB). Percentiles use the nearest-rank
definition (numpy's `inverted_cdf`): p95 is the smallest observed value with at least 95 % of the
samples at or below it, always a latency that really happened, never an interpolation between two.
Plain Python on purpose: the supervisor summarizes every metrics interval, and numpy would cost it
~14 MB of RSS all night for one sort (issue 14, item 4).
"""

from __future__ import annotations

import math
from array import array
from typing import Any

PERCENTILES = (50, 95, 99)


def summarize(samples: array[float] | list[float]) -> dict[str, Any]:
    """count, p50, p95, p99, max and mean of `samples` (ms); the figures are None when there is none."""
    count = len(samples)
    if count == 0:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(samples)
    p50, p95, p99 = (ordered[max(0, math.ceil(q * count / 100) - 1)] for q in PERCENTILES)
    return {
        "count": count,
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(ordered[-1]),
        "mean": math.fsum(ordered) / count,
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
