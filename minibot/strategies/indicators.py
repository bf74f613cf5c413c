"""Incremental indicators on bar closes: Wilder's RSI and n-bar momentum.

Both update in O(1) per bar with no allocation, so the strategy's hot path stays small; tests check them
against a direct computation from the full close series (tests/strategies/test_indicators.py).
"""

from __future__ import annotations

from collections import deque


class WilderRSI:
    """Relative Strength Index with Wilder's smoothing (the definition TA-Lib and most charts use).

    The first average gain/loss is the simple mean of the first `period` close-to-close changes; after that
    `avg = (avg * (period - 1) + change) / period`. RSI = 100 - 100 / (1 + avg_gain / avg_loss); with no
    losses it is 100 (or 50 when there was no movement at all, where the ratio is undefined).
    """

    __slots__ = ("avg_gain", "avg_loss", "count", "period", "prev", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"RSI period must be >= 1, got {period}")
        self.period = period
        self.reset()

    def reset(self) -> None:
        """Forget all history (warm-up starts again)."""
        self.prev: float | None = None
        self.count = 0
        self.avg_gain = 0.0
        self.avg_loss = 0.0
        self.value: float | None = None

    def update(self, close: float) -> float | None:
        """Feed one bar close; returns the RSI once `period` changes have been seen, else None."""
        prev = self.prev
        self.prev = close
        if prev is None:
            return None
        change = close - prev
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        period = self.period
        self.count += 1
        if self.count < period:
            # Seed phase: accumulate sums; divided once at count == period (Wilder's simple first average).
            self.avg_gain += gain
            self.avg_loss += loss
            return None
        if self.count == period:
            self.avg_gain = (self.avg_gain + gain) / period
            self.avg_loss = (self.avg_loss + loss) / period
        else:
            self.avg_gain = (self.avg_gain * (period - 1) + gain) / period
            self.avg_loss = (self.avg_loss * (period - 1) + loss) / period
        if self.avg_loss == 0.0:
            self.value = 100.0 if self.avg_gain > 0.0 else 50.0
        else:
            self.value = 100.0 - 100.0 / (1.0 + self.avg_gain / self.avg_loss)
        return self.value


class Momentum:
    """Rate of change over `lookback` bars in basis points: (close / close[lookback bars ago] - 1) * 1e4."""

    __slots__ = ("closes", "lookback", "value")

    def __init__(self, lookback: int) -> None:
        if lookback < 1:
            raise ValueError(f"momentum lookback must be >= 1, got {lookback}")
        self.lookback = lookback
        self.closes: deque[float] = deque(maxlen=lookback + 1)
        self.value: float | None = None

    def reset(self) -> None:
        """Forget all history (warm-up starts again)."""
        self.closes.clear()
        self.value = None

    def update(self, close: float) -> float | None:
        """Feed one bar close; returns momentum in bps once `lookback` + 1 closes are known, else None."""
        closes = self.closes
        closes.append(close)
        if len(closes) <= self.lookback:
            return None
        self.value = (close / closes[0] - 1.0) * 10_000.0
        return self.value
