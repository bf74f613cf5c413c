"""Binance's kline intervals in ms (`1w` and `1M` open on calendar boundaries: minibot/sim/bars.py)."""

from __future__ import annotations

MINUTE = 60_000
DAY = 86_400_000
WEEK = 7 * DAY
INTERVALS: dict[str, int] = {
    "1s": 1000,
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": 60 * MINUTE,
    "2h": 120 * MINUTE,
    "4h": 240 * MINUTE,
    "6h": 360 * MINUTE,
    "8h": 480 * MINUTE,
    "12h": 720 * MINUTE,
    "1d": DAY,
    "3d": 3 * DAY,
    "1w": WEEK,
    "1M": 31 * DAY,
}
