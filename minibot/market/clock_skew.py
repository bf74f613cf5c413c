"""Clock skew between the run clock and Binance's server clock, from `GET /api/v3/time`.

The server stamped `serverTime` somewhere inside the round trip; assuming it sits at the midpoint, the
error of one sample is at most half the round trip. The estimate is the sample with the shortest round
trip among the recent ones (the tightest bound, newest first on ties), which shrugs off the odd slow
answer; samples contradicted by a newer one (a clock jump) are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from minibot.clock import RunClock
from minibot.market.rest import BinanceRest


@dataclass(frozen=True, slots=True)
class SkewSample:
    """One `/time` measurement; `skew_ms` = server time minus local run time at the midpoint."""

    skew_ms: int
    rtt_ms: int  # round trip on the run clock: the bound on this sample's error is rtt_ms / 2
    server_ms: int
    local_mid_ms: int


def skew_from_round_trip(sent_ms: int, received_ms: int, server_ms: int) -> SkewSample:
    """Skew of one round trip: the server's time against the midpoint of send and receive."""
    if received_ms < sent_ms:
        raise ValueError("received before sent: the clock is not monotonic")
    mid = (sent_ms + received_ms) // 2
    return SkewSample(server_ms - mid, received_ms - sent_ms, server_ms, mid)


class ClockSkew:
    """Keeps the last `window` samples; `estimate_ms` is the skew of the one with the shortest round trip.

    Each sample bounds the true offset to [skew - rtt/2, skew + rtt/2]. A new sample whose interval does
    not meet an older one's means a clock jumped (the server's or ours): the older samples are dropped,
    so a jump shows in the estimate at once instead of after the window has aged out.
    """

    def __init__(self, window: int = 10) -> None:
        if window <= 0:
            raise ValueError("window must be > 0")
        self.samples: deque[SkewSample] = deque(maxlen=window)
        self.jumps = 0

    def add(self, sample: SkewSample) -> None:
        """Record a sample (dropping older ones it contradicts)."""
        lo, hi = sample.skew_ms - sample.rtt_ms / 2, sample.skew_ms + sample.rtt_ms / 2
        kept = [s for s in self.samples if s.skew_ms - s.rtt_ms / 2 <= hi and lo <= s.skew_ms + s.rtt_ms / 2]
        if len(kept) != len(self.samples):
            self.jumps += 1
            self.samples.clear()
            self.samples.extend(kept)
        self.samples.append(sample)

    @property
    def best(self) -> SkewSample | None:
        """The sample with the shortest round trip (newest on ties), or None before the first."""
        if not self.samples:
            return None
        # reversed: among equal round trips the newest wins.
        return min(reversed(self.samples), key=lambda s: s.rtt_ms)

    @property
    def estimate_ms(self) -> int | None:
        """Best current estimate of server minus local time, or None before the first sample."""
        best = self.best
        return None if best is None else best.skew_ms

    @property
    def bound_ms(self) -> float | None:
        """Error bound of `estimate_ms` (half the round trip of the sample it comes from)."""
        best = self.best
        return None if best is None else best.rtt_ms / 2

    def exceeds(self, max_ms: float) -> bool:
        """True when the skew is known to be beyond +-`max_ms`: the estimate is further out than `max_ms` plus
        its error bound. A single slow round trip (a busy machine, the first request's handshake) gives a wide
        bound, and such a sample alone proves no skew."""
        best = self.best
        return best is not None and abs(best.skew_ms) - best.rtt_ms / 2 > max_ms


async def measure_skew(rest: BinanceRest, clock: RunClock) -> SkewSample:
    """One `/time` round trip -> a skew sample (raises the client's errors unchanged)."""
    sent = clock.now_ms()
    server = await rest.time()
    return skew_from_round_trip(sent, clock.now_ms(), server)
