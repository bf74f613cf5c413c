"""Request weights per endpoint and the per-IP REQUEST_WEIGHT limiter (429, then 418 bans).

The limiter's minute is a run-clock minute: clients run their timers on the same clock, so a `--speed 60`
run polls 60 times faster in wall time and must be judged per run minute, as at speed 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

_FIXED: dict[str, int] = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/trades": 25,
    "/api/v3/historicalTrades": 25,
    "/api/v3/aggTrades": 4,
    "/api/v3/klines": 2,
    "/api/v3/uiKlines": 2,
    "/api/v3/avgPrice": 2,
}
MAX_BAN_MS = 3 * 86_400_000


def _symbols_count(query: Any) -> int | None:
    raw = query.get("symbols")
    if raw is None:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return 1
    return len(parsed) if isinstance(parsed, list) else 1


def request_weight(path: str, query: Any) -> int:
    """Binance's weight for a GET on `path` with these query parameters (1 for anything not listed)."""
    fixed = _FIXED.get(path)
    if fixed is not None:
        return fixed
    if path == "/api/v3/depth":
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            limit = 100
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    has_symbol = "symbol" in query
    n = _symbols_count(query)
    if path == "/api/v3/ticker/24hr":
        if has_symbol:
            return 2
        if n is None:
            return 80
        return 2 if n <= 20 else 40 if n <= 100 else 80
    if path in ("/api/v3/ticker/price", "/api/v3/ticker/bookTicker"):
        return 2 if has_symbol else 4
    if path in ("/api/v3/ticker", "/api/v3/ticker/tradingDay"):
        count = 1 if has_symbol else (n or 1)
        return min(4 * count, 200)
    return 1


@dataclass
class Verdict:
    """Outcome of charging one request: `status` 200 (go on), 429 or 418, weight used, Retry-After seconds."""

    status: int
    used: int
    retry_after_s: int = 0
    ban_until_ms: int = 0


@dataclass
class _Bucket:
    window: int = -1
    used: int = 0
    strikes: int = 0
    bans: int = 0
    ban_until: int = 0


@dataclass
class RateLimiter:
    """REQUEST_WEIGHT per IP per run-clock minute; `ban_after` requests over the limit in one minute -> 418."""

    limit: int = 6000
    ban_after: int = 10
    ban_ms: int = 120_000
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def charge(self, ip: str, weight: int, now_ms: int) -> Verdict:
        """Add `weight` for `ip` at run time `now_ms` and decide whether the request may proceed."""
        b = self._buckets.setdefault(ip, _Bucket())
        window = now_ms // 60_000
        if window != b.window:
            b.window, b.used, b.strikes = window, 0, 0
        if b.ban_until > now_ms:
            return Verdict(418, b.used, math.ceil((b.ban_until - now_ms) / 1000), b.ban_until)
        b.used += weight
        if b.used <= self.limit:
            return Verdict(200, b.used)
        b.strikes += 1
        if b.strikes > self.ban_after:
            # Repeat offenders get longer bans, 2 minutes doubling up to Binance's 3 days.
            b.bans += 1
            b.ban_until = now_ms + min(self.ban_ms * 2 ** (b.bans - 1), MAX_BAN_MS)
            return Verdict(418, b.used, math.ceil((b.ban_until - now_ms) / 1000), b.ban_until)
        return Verdict(429, b.used, math.ceil(((window + 1) * 60_000 - now_ms) / 1000))

    def used(self, ip: str, now_ms: int) -> int:
        """Weight `ip` has used in the current run-clock minute."""
        b = self._buckets.get(ip)
        if b is None or b.window != now_ms // 60_000:
            return 0
        return b.used
