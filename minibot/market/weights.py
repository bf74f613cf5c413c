"""Request-weight accounting for Binance REST (reference §3).

Binance counts request weight per IP in fixed one-minute windows and reports the running total in the
`X-MBX-USED-WEIGHT-1M` header of every response. Going over the limit earns a 429 with `Retry-After`;
calling on after 429s earns a 418 ban (2 minutes up to 3 days). So this tracker:

- adds each request's documented weight locally before sending (the header only arrives afterwards, and
  several requests may be in flight), and takes the header as the authority once it arrives;
- makes a caller wait for the next window (plus `BOUNDARY_MARGIN_MS`, as the server's minute is known only
  through the skew estimate) when the request would take usage over `slow_fraction` of the limit, so the
  429 is never reached in normal operation;
- after a 429, makes every caller wait until `Retry-After` has passed (sending during it is what earns a ban);
- after a 418, refuses every call with `Banned` until the ban ends: the health policy turns that into
  STOP BINANCE_BANNED, the tracker never retries into a ban.

All times are on the run clock: under `--speed N` the simulator's minute window and its `Retry-After`
pass N times faster, exactly like every other duration of the run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

from minibot.clock import RunClock
from minibot.market.errors import Banned

WINDOW_MS = 60_000
# The window boundary is only known through the skew estimate; waiting this much past it keeps a local
# reset from running ahead of the server's (which would spend weight the server still counts).
BOUNDARY_MARGIN_MS = 500
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
# The 418 body says "IP banned until <epoch ms>"; Retry-After is the fallback when it does not parse.
_BANNED_UNTIL = re.compile(r"banned until (\d{10,16})")


class WeightTracker:
    """Shared by every request of one client; not thread-safe (one event loop)."""

    def __init__(self, clock: RunClock, limit: int = 6000, slow_fraction: float = 0.8) -> None:
        if limit <= 0 or not 0.0 < slow_fraction <= 1.0:
            raise ValueError("weight limit must be > 0 and slow_fraction in (0, 1]")
        self.clock = clock
        self.limit = limit
        self.slow_fraction = slow_fraction
        # Server time minus local run time; the window boundaries are the server's minutes.
        self.server_offset_ms = 0
        self.used = 0
        self._window = self._window_of(clock.now_ms())
        self.retry_until_ms = 0
        self.banned_until_ms = 0
        self.slowdowns = 0
        self.rate_limited = 0

    def _window_of(self, local_ms: int) -> int:
        return (local_ms + self.server_offset_ms - BOUNDARY_MARGIN_MS) // WINDOW_MS

    def _roll(self, now_ms: int) -> None:
        window = self._window_of(now_ms)
        if window != self._window:
            self._window = window
            self.used = 0

    def check_ban(self) -> None:
        """Raise `Banned` while a 418 ban runs; never lets a call out during one."""
        if self.clock.now_ms() < self.banned_until_ms:
            raise Banned(f"IP banned by Binance until {self.banned_until_ms} (run-clock ms)", self.banned_until_ms)

    def wait_ms(self, weight: int) -> int:
        """Run-clock ms a request of `weight` must wait before it may be sent (0 = now)."""
        now = self.clock.now_ms()
        self._roll(now)
        if now < self.retry_until_ms:
            return self.retry_until_ms - now
        if self.used + weight > self.limit * self.slow_fraction:
            next_window_local = (self._window + 1) * WINDOW_MS - self.server_offset_ms + BOUNDARY_MARGIN_MS
            return max(1, next_window_local - now)
        return 0

    async def acquire(self, weight: int) -> None:
        """Wait until a request of `weight` may be sent, then count it; raises `Banned` during a ban."""
        while True:
            self.check_ban()
            delay = self.wait_ms(weight)
            if delay == 0:
                break
            if self.retry_until_ms <= self.clock.now_ms():
                self.slowdowns += 1
            await asyncio.sleep(self.clock.real_seconds(delay))
        self.used += weight

    def observe(self, status: int | None, headers: Mapping[str, str], body_text: str = "") -> None:
        """Update from a response: the used-weight header, and 429 / 418 with their Retry-After."""
        now = self.clock.now_ms()
        self._roll(now)
        used = _int_header(headers, USED_WEIGHT_HEADER)
        if used is not None:
            self.used = used
        if status not in (418, 429):
            return
        retry_after_s = _float_header(headers, "Retry-After")
        retry_ms = int(retry_after_s * 1000) if retry_after_s is not None else WINDOW_MS
        if status == 429:
            self.rate_limited += 1
            self.retry_until_ms = max(self.retry_until_ms, now + retry_ms)
            return
        match = _BANNED_UNTIL.search(body_text)
        until = now + retry_ms
        if match:
            server_until = int(match.group(1))
            if server_until >= 10**15:  # a microsecond timestamp
                server_until //= 1000
            until = server_until - self.server_offset_ms
        # Never trust a "banned until" that ends before Retry-After does: wait for the later one.
        self.banned_until_ms = max(self.banned_until_ms, until, now + retry_ms)
        self.retry_until_ms = max(self.retry_until_ms, self.banned_until_ms)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        parsed = float(value)
    except ValueError:
        return None
    return parsed if parsed >= 0 else None
