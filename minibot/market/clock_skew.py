"""Clock skew between the run clock and Binance's server clock, from `GET /api/v3/time`.

The server stamped `serverTime` somewhere inside the round trip; assuming it sits at the midpoint, the
error of one sample is at most half the round trip. The estimate is the sample with the shortest round
trip among the recent ones (the tightest bound, newest first on ties), which shrugs off the odd slow
answer.
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
    """Keeps the last `window` samples; `estimate_ms` is the skew of the one with the shortest round trip."""

    def __init__(self, window: int = 10) -> None:
        if window <= 0:
            raise ValueError("window must be > 0")
        self.samples: deque[SkewSample] = deque(maxlen=window)

    def add(self, sample: SkewSample) -> None:
        """Record a sample."""
        self.samples.append(sample)

    @property
    def estimate_ms(self) -> int | None:
        """Best current estimate of server minus local time, or None before the first sample."""
        if not self.samples:
            return None
        # reversed: among equal round trips the newest wins, so a changed skew shows up at once.
        return min(reversed(self.samples), key=lambda s: s.rtt_ms).skew_ms


async def measure_skew(rest: BinanceRest, clock: RunClock) -> SkewSample:
    """One `/time` round trip -> a skew sample (raises the client's errors unchanged)."""
    sent = clock.now_ms()
    server = await rest.time()
    return skew_from_round_trip(sent, clock.now_ms(), server)
