"""aggTrade id gap detection per symbol, with REST back-fill (`/api/v3/aggTrades?fromId=`).

Binance aggTrade ids are contiguous per symbol, so the stream (or the REST fallback) is complete exactly
when each id is the previous one plus one. `AggTradeGapFiller.admit` takes every aggTrade the feed sees,
from whatever source, and returns what to emit, in id order:
- an id at or below the last emitted one is a duplicate (a reconnect replay, or an id REST already gave
  us): dropped;
- the next id: emitted;
- a jump: the missing ids are fetched by REST in bounded pages, de-duplicated, emitted in order, then
  the trade that revealed the gap. What cannot be fetched within the bounds is reported as unfilled,
  never invented.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from minibot.clock import RunClock
from minibot.market.errors import HttpError, TransportError
from minibot.market.models import AggTrade
from minibot.market.rest import BinanceRest


@dataclass(frozen=True, slots=True)
class GapReport:
    """One detected gap: ids `from_id..to_id` (inclusive) were missing; `filled` of them were fetched."""

    symbol: str
    from_id: int
    to_id: int
    filled: int
    error: str | None

    @property
    def missing(self) -> int:
        """Ids still missing after the back-fill."""
        return self.to_id - self.from_id + 1 - self.filled


async def fetch_range(
    rest: BinanceRest, symbol: str, from_id: int, to_id: int, page_limit: int = 1000, max_pages: int = 10
) -> list[AggTrade]:
    """aggTrades with ids in [from_id, to_id] from REST, oldest first, at most `max_pages` requests."""
    got: dict[int, AggTrade] = {}
    next_id = from_id
    for _ in range(max_pages):
        if next_id > to_id:
            break
        page = await rest.agg_trades(symbol, from_id=next_id, limit=min(page_limit, to_id - next_id + 1))
        wanted = [t for t in page if next_id <= t.agg_id <= to_id]
        if not wanted:
            break  # nothing at or after next_id in range: the server does not have it (yet)
        for trade in wanted:
            got.setdefault(trade.agg_id, trade)
        next_id = max(t.agg_id for t in wanted) + 1
    return [got[i] for i in sorted(got)]


class AggTradeGapFiller:
    """Per-symbol aggTrade sequencer with REST back-fill; one per feed, used from one event loop."""

    def __init__(
        self,
        rest: BinanceRest,
        clock: RunClock,
        page_limit: int = 1000,
        max_pages: int = 10,
        attempts: int = 3,
        retry_ms: int = 1000,
        on_gap: Callable[[GapReport], None] | None = None,
    ) -> None:
        self.rest = rest
        self.clock = clock
        self.page_limit = page_limit
        self.max_pages = max_pages
        self.attempts = attempts
        self.retry_ms = retry_ms
        self.on_gap = on_gap
        self.last_id: dict[str, int] = {}
        self.duplicates = 0
        self.gaps = 0
        self.backfilled = 0
        self.unfilled = 0
        self._locks: dict[str, asyncio.Lock] = {}

    async def admit(self, trade: AggTrade) -> list[AggTrade]:
        """The trades to emit because `trade` arrived: [], [trade], or back-filled trades then `trade`."""
        lock = self._locks.setdefault(trade.symbol, asyncio.Lock())
        # One admission per symbol at a time: a second trade must not overtake a back-fill in progress.
        async with lock:
            last = self.last_id.get(trade.symbol)
            if last is not None and trade.agg_id <= last:
                self.duplicates += 1
                return []
            out: list[AggTrade] = []
            if last is not None and trade.agg_id > last + 1:
                out = await self._backfill(trade.symbol, last + 1, trade.agg_id - 1)
            out.append(trade)
            self.last_id[trade.symbol] = trade.agg_id
            return out

    async def _backfill(self, symbol: str, from_id: int, to_id: int) -> list[AggTrade]:
        self.gaps += 1
        got: list[AggTrade] = []
        error: str | None = None
        for attempt in range(self.attempts):
            start = got[-1].agg_id + 1 if got else from_id
            try:
                page = await fetch_range(self.rest, symbol, start, to_id, self.page_limit, self.max_pages)
                got.extend(page)
                error = None
                if not got or got[-1].agg_id >= to_id:
                    break
            except (TransportError, HttpError) as exc:
                # Banned is not caught: a ban must reach the health policy, not be retried into.
                error = str(exc)
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.clock.real_seconds(self.retry_ms))
        backfilled = [
            AggTrade(
                t.symbol,
                t.agg_id,
                t.price,
                t.qty,
                t.first_trade_id,
                t.last_trade_id,
                t.trade_time,
                t.event_time,
                t.buyer_maker,
                source="backfill",
            )
            for t in got
        ]
        report = GapReport(symbol, from_id, to_id, len(backfilled), error)
        self.backfilled += report.filled
        self.unfilled += report.missing
        if self.on_gap is not None:
            self.on_gap(report)
        return backfilled
