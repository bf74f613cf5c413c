"""Klines: interval arithmetic, bar series built from trades, bars loaded from files, aggregation.

A bar is a list `[open_time, o, h, l, c, volume, quote_volume, count, taker_buy_vol, taker_buy_quote,
first_trade_id, last_trade_id]` with prices/volumes in e8 units. Binance's klines have no gaps: a period
without trades is a flat bar at the previous close with zero volume, so the series fill gaps that way.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
from collections.abc import Iterator
from typing import Any

from minibot.marketdata.intervals import DAY, INTERVALS, WEEK
from minibot.marketdata.num import fmt8

Bar = list[int]
# Unix epoch was a Thursday: weekly klines open on Mondays, 4 days after it.
_WEEK_ORIGIN = 4 * DAY
# Bar field indexes (Binance's kline letters).
O, H, L, C, V, Q, N, TBV, TBQ, FID, LID = range(1, 12)  # noqa: E741


def bucket_open(interval: str, t: int, tz_ms: int = 0) -> int:
    """Open time of the `interval` bar containing `t` (UTC ms), boundaries shifted by a time zone offset."""
    local = t + tz_ms
    if interval == "1M":
        d = dt.datetime.fromtimestamp(local // 1000, tz=dt.UTC)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000 - tz_ms
    if interval == "1w":
        return (local - _WEEK_ORIGIN) // WEEK * WEEK + _WEEK_ORIGIN - tz_ms
    iv = INTERVALS[interval]
    return local // iv * iv - tz_ms


def bucket_close(interval: str, open_time: int, tz_ms: int = 0) -> int:
    """Close time (inclusive, ms) of the bar opening at `open_time`."""
    if interval == "1M":
        d = dt.datetime.fromtimestamp((open_time + tz_ms) // 1000, tz=dt.UTC)
        year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000 - tz_ms - 1
    return open_time + INTERVALS[interval] - 1


def flat_bar(open_time: int, price: int) -> Bar:
    """A bar without trades at `price`."""
    return [open_time, price, price, price, price, 0, 0, 0, 0, 0, -1, -1]


def merge_into(acc: Bar, bar: Bar) -> None:
    """Fold `bar` (later in time) into `acc`."""
    if acc[N] == 0 and bar[N] > 0:
        acc[O] = bar[O]
        acc[H], acc[L] = bar[H], bar[L]
    elif bar[N] > 0:
        acc[H] = max(acc[H], bar[H])
        acc[L] = min(acc[L], bar[L])
    acc[C] = bar[C]
    for i in (V, Q, N, TBV, TBQ):
        acc[i] += bar[i]
    if acc[FID] < 0:
        acc[FID] = bar[FID]
    if bar[LID] >= 0:
        acc[LID] = bar[LID]


class BarSeries:
    """Bars of one fixed interval (UTC-aligned), oldest first, built from trades; keeps at most ~cap."""

    def __init__(self, interval_ms: int, cap: int) -> None:
        self.iv = interval_ms
        self.cap = cap
        self.bars: list[Bar] = []

    def add_trade(self, t: int, price: int, qty: int, quote: int, buyer_taker: bool, fid: int, lid: int) -> None:
        """Fold one (aggregate) trade into the bar containing `t`."""
        ot = t - t % self.iv
        bars = self.bars
        if not bars or ot > bars[-1][0]:
            if bars:
                last = bars[-1]
                gap = min((ot - last[0]) // self.iv - 1, self.cap)
                start = ot - gap * self.iv
                bars.extend(flat_bar(start + i * self.iv, last[C]) for i in range(gap))
            bars.append([ot, price, price, price, price, 0, 0, 0, 0, 0, fid, lid])
            if len(bars) > self.cap + self.cap // 2:
                del bars[: len(bars) - self.cap]
        bar = bars[-1]
        if bar[0] != ot:
            return  # a trade older than the newest bar: replayed files are time-sorted, so never in practice
        if bar[N] == 0:
            bar[O] = bar[H] = bar[L] = price
            bar[FID] = fid
        bar[H] = max(bar[H], price)
        bar[L] = min(bar[L], price)
        bar[C] = price
        bar[V] += qty
        bar[Q] += quote
        bar[N] += lid - fid + 1
        bar[LID] = lid
        if buyer_taker:
            bar[TBV] += qty
            bar[TBQ] += quote

    def extend(self, bars: list[Bar]) -> None:
        """Append finished history bars (oldest first, aligned, before any trade-built bar)."""
        self.bars.extend(bars)

    def iter_range(self, lo: int, hi: int, now: int) -> Iterator[Bar]:
        """Stored bars with open time in [lo, hi]."""
        bars = self.bars
        i = bisect.bisect_left(bars, lo, key=lambda b: b[0])
        while i < len(bars) and bars[i][0] <= hi:
            yield bars[i]
            i += 1

    def first_open(self) -> int | None:
        """Open time of the oldest stored bar."""
        return self.bars[0][0] if self.bars else None

    def last(self) -> Bar | None:
        """Newest stored bar."""
        return self.bars[-1] if self.bars else None


class FixedBars:
    """Bars read from a klines file, shifted onto the run clock, repeating every `period` ms when looping
    (trade ids advance by `id_span` per repetition, as the replayed trades' do)."""

    def __init__(self, interval_ms: int, bars: list[Bar], loop: bool, id_span: int = 0) -> None:
        self.iv = interval_ms
        self.bars = bars
        self.period = bars[-1][0] - bars[0][0] + interval_ms
        self.loop = loop
        self.id_span = id_span

    def iter_range(self, lo: int, hi: int, now: int) -> Iterator[Bar]:
        """Bars with open time in [lo, min(hi, now)], unrolled over loops."""
        hi = min(hi, now)
        first = self.bars[0][0]
        if hi < first:
            return
        k = max(0, (lo - first) // self.period)
        while True:
            shift = k * self.period
            if shift > 0 and not self.loop:
                return
            if first + shift > hi:
                return
            i = bisect.bisect_left(self.bars, lo - shift, key=lambda b: b[0])
            ids = k * self.id_span
            while i < len(self.bars) and self.bars[i][0] + shift <= hi:
                bar = self.bars[i]
                if shift:
                    moved = [bar[0] + shift, *bar[1:]]
                    if moved[FID] >= 0:
                        moved[FID] += ids
                        moved[LID] += ids
                    yield moved
                else:
                    yield bar
                i += 1
            k += 1

    def first_open(self) -> int | None:
        """Open time of the first bar."""
        return self.bars[0][0]

    def last(self) -> Bar | None:
        """Last bar of the file (unshifted)."""
        return self.bars[-1]


BaseSeries = BarSeries | FixedBars


def query(
    base: BaseSeries,
    interval: str,
    start: int | None,
    end: int | None,
    limit: int,
    now: int,
    tz_ms: int = 0,
) -> list[Bar]:
    """Bars of `interval` built from `base`, with Binance's startTime/endTime/limit rules, up to `now`."""
    iv = INTERVALS[interval]
    first = base.first_open()
    if first is None:
        return []
    hi = now if end is None else min(end, now)
    if start is not None:
        # A start before the first bar (python-binance probes with startTime=0) means "from the first bar".
        lo = max(start, first)
        hi = min(hi, bucket_open(interval, lo, tz_ms) + (limit + 1) * iv)
    else:
        lo = hi - (limit + 1) * iv
    if hi < lo:
        return []
    lo_b = max(bucket_open(interval, lo, tz_ms), first)
    out: list[Bar] = []
    for bar in base.iter_range(lo_b, hi, now):
        key = bucket_open(interval, bar[0], tz_ms)
        if out and out[-1][0] == key:
            merge_into(out[-1], bar)
            continue
        if out:
            _fill_flat(out, interval, key, tz_ms)
        out.append([key, *bar[1:]])
    if out:
        # The tail after the newest stored bar is quiet: flat bars at the last close up to `hi`.
        _fill_flat(out, interval, bucket_open(interval, hi, tz_ms) + 1, tz_ms, cap=limit + 1)
    out = [b for b in out if (start is None or b[0] >= start) and (end is None or b[0] <= end) and b[0] <= now]
    return out[:limit] if start is not None else out[-limit:]


def _fill_flat(out: list[Bar], interval: str, until_open: int, tz_ms: int, cap: int | None = None) -> None:
    price = out[-1][C]
    nxt = bucket_close(interval, out[-1][0], tz_ms) + 1
    added = 0
    while nxt < until_open and (cap is None or added < cap):
        out.append(flat_bar(nxt, price))
        nxt = bucket_close(interval, nxt, tz_ms) + 1
        added += 1


def rest_kline(bar: Bar, interval: str, tz_ms: int, unit: int) -> list[Any]:
    """One kline in /api/v3/klines layout; `unit` 1000 turns times into microseconds."""
    close = bucket_close(interval, bar[0], tz_ms)
    return [
        bar[0] * unit,
        fmt8(bar[O]),
        fmt8(bar[H]),
        fmt8(bar[L]),
        fmt8(bar[C]),
        fmt8(bar[V]),
        close * unit + (unit - 1 if unit > 1 else 0),
        fmt8(bar[Q]),
        bar[N],
        fmt8(bar[TBV]),
        fmt8(bar[TBQ]),
        "0",
    ]


def ws_kline(bar: Bar, symbol: str, interval: str, closed: bool, unit: int) -> dict[str, Any]:
    """The `k` object of a kline stream event."""
    close = bucket_close(interval, bar[0], 0)
    return {
        "t": bar[0] * unit,
        "T": close * unit + (unit - 1 if unit > 1 else 0),
        "s": symbol,
        "i": interval,
        "f": bar[FID],
        "L": bar[LID],
        "o": fmt8(bar[O]),
        "c": fmt8(bar[C]),
        "h": fmt8(bar[H]),
        "l": fmt8(bar[L]),
        "v": fmt8(bar[V]),
        "n": bar[N],
        "x": closed,
        "q": fmt8(bar[Q]),
        "V": fmt8(bar[TBV]),
        "Q": fmt8(bar[TBQ]),
        "B": "0",
    }
