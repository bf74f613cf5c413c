"""Time bars per symbol: ticks fall into buckets of `interval_ms` by their event `ts` (the run clock).

A bar is closed by the first tick of a later bucket (the core never reads a clock, so a bar cannot close on
its own). Buckets with no tick in between are empty bars: they repeat the previous close, which keeps RSI and
momentum on a time axis. A gap of more than `max_gap_bars` empty bars means the history is no longer
comparable (a feed outage), so the caller resets its indicators and warm-up starts again.
"""

from __future__ import annotations


class BarBuilder:
    """The bar being built for one symbol (open/high/low/close/tick count); O(1) per tick."""

    __slots__ = ("bucket", "close", "high", "interval_ms", "low", "open", "start_ms", "ticks")

    def __init__(self, interval_ms: int) -> None:
        if interval_ms <= 0:
            raise ValueError(f"bar interval must be > 0 ms, got {interval_ms}")
        self.interval_ms = interval_ms
        self.bucket = -1
        self.start_ms = 0
        self.open = self.high = self.low = self.close = 0.0
        self.ticks = 0

    def start(self, bucket: int, price: float) -> None:
        """Open a new bar in `bucket` with its first price."""
        self.bucket = bucket
        self.start_ms = bucket * self.interval_ms
        self.open = self.high = self.low = self.close = price
        self.ticks = 1

    def add(self, price: float) -> None:
        """One more tick inside the current bar."""
        self.close = price
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.ticks += 1

    def as_reason(self) -> dict[str, float | int]:
        """The closed bar, for a signal's `reason` (JSON-safe)."""
        return {
            "start_ms": self.start_ms,
            "interval_ms": self.interval_ms,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "ticks": self.ticks,
        }


class BarCloses:
    """Which ticks may close a bar, the only ticks a strategy signal can be made at (`StrategyCore.step`):
    a tick of a later bucket than every earlier tick of its symbol. A symbol's first tick seen here counts as
    one (whatever came before it is unknown), so the answer errs only towards "may close".

    A pure function of the tick sequence (feed every tick once, in order), so the strategy's process can
    hold the ticks that cannot close a bar and risk_role can pass them without waiting for the strategy
    (minibot/roles/schedule.py; issue 14, idle cost)."""

    __slots__ = ("_bucket", "interval_ms")

    def __init__(self, interval_ms: int) -> None:
        if interval_ms <= 0:
            raise ValueError(f"bar interval must be > 0 ms, got {interval_ms}")
        self.interval_ms = interval_ms
        self._bucket: dict[str, int] = {}

    def feed(self, symbol: str, ts: int) -> bool:
        """Take the next tick; True when it may close its symbol's bar."""
        bucket = ts // self.interval_ms
        last = self._bucket.get(symbol)
        if last is not None and bucket <= last:
            return False
        self._bucket[symbol] = bucket
        return True
