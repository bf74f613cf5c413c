"""The live state of one symbol: top of book, recent aggregate trades, klines. Feeds write, REST/WS read.

Synthetic and replay feeds both drive a `SymbolState`, so every endpoint and stream serves one market.
The book is a persistent `minibot.sim.book.Book`: every change is one order-book update id, shared by
`@bookTicker`'s `u`, `/depth`'s `lastUpdateId` and the diff stream's `U`/`u`.
Individual trades (`/trades`, `@trade`) are derived from aggregate trades: an aggregate trade with ids
f..l stands for l-f+1 fills at one price, with their own quantities when a file gave them (`parts`) or
an even split otherwise.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import NamedTuple, Protocol

from minibot.marketdata.intervals import INTERVALS, MINUTE
from minibot.marketdata.num import mul_e8
from minibot.marketdata.symbols import SymbolSpec
from minibot.sim.bars import Bar, BarSeries, BaseSeries, FixedBars, query
from minibot.sim.book import Book
from minibot.sim.tape import Agg, AggTape

Levels = tuple[list[tuple[int, int]], list[tuple[int, int]]]


TRADES_KEPT_MS = 15 * 60_000
"""Run-clock span of trade history every symbol keeps, synthetic or replayed (besides the count cap). An
Agg tuple cost ~330-490 bytes (the `AggTape` columns now ~50-80), so a count-only cap (2M over all
symbols) let the simulator grow ~30 MB/h for days, and a looping replay of a busy recording (BTCUSDT,
~62,000 aggregate trades a run hour) ~31 MB/h.
A client back-fills only the gap of an outage, and a market feed STOPs after 3 minutes without Binance
(binance.health.unreachable_threshold_ms): 15 minutes serves every back-fill with room to spare."""


class Trade(NamedTuple):
    """One individual trade (`id, price, qty, quoteQty, time, isBuyerMaker`)."""

    id: int
    p: int
    q: int
    quote: int
    T: int
    m: bool


class Sink(Protocol):
    """Where a state announces changes (the WebSocket hub)."""

    def on_book(self, state: SymbolState) -> None:
        """Top of book changed."""

    def on_agg(self, state: SymbolState, agg: Agg) -> None:
        """An aggregate trade happened."""


class SymbolState:
    """Book, trades and bars of one symbol at the simulator's current instant."""

    def __init__(
        self,
        spec: SymbolSpec,
        trade_cap: int,
        sink: Sink | None = None,
        deep: bool = False,
        keep_ms: int = TRADES_KEPT_MS,
    ) -> None:
        self.spec = spec
        self.keep_ms = keep_ms  # also forget trades older than this
        self.sink = sink
        self.bid = spec.base_price - spec.tick
        self.ask = spec.base_price
        self.bid_qty = 0
        self.ask_qty = 0
        self.update_id = 1
        self.book_time = 0
        self.trade_cap = trade_cap
        self.aggs = AggTape()
        self.s1 = BarSeries(1000, 1200)
        self.m1 = BarSeries(MINUTE, 2880)
        self.fixed: FixedBars | None = None
        self.book = Book(spec.tick, spec.step, zlib.crc32(spec.symbol.encode()))
        # Until a client asks for depth (ensure_depth) a synthetic symbol keeps only its top of book: the
        # deep book costs nothing where nobody looks. Replay keeps the full book from the start.
        self.book.deep = deep
        # Diff-depth stream name -> the last update id it has sent (kept by the hub).
        self.diff_sent: dict[str, int] = {}
        # Run time through which the feed has added every trade: a trade stamped at or before it can no
        # longer arrive. Bars are served up to here, not up to now: a synthetic step generates its trades
        # only when it ends, stamped inside it, so a bar read as closed at "now" could still gain trades.
        self.final_ms = 0

    # writers -----------------------------------------------------------------------------------------
    def set_book(self, t: int, bid: int, bid_qty: int, ask: int, ask_qty: int) -> None:
        """New top of book as one order-book update: better levels go, deeper ones stay."""
        self.begin_update()
        self.quote(bid, bid_qty, ask, ask_qty)
        self.commit_update(t, amend=True)

    def quote(self, bid: int, bid_qty: int, ask: int, ask_qty: int) -> None:
        """Inside an update: new best bid and ask."""
        if self.book.deep:
            self.book.place_top(True, bid, bid_qty)
            self.book.place_top(False, ask, ask_qty)
        else:
            self.bid, self.bid_qty, self.ask, self.ask_qty = bid, bid_qty, ask, ask_qty

    def consume(self, buy: bool, price: int, qty: int, refill: int) -> None:
        """Inside an update: a trade takes `qty` at `price` from the book (`Book.take`); a top-only book
        changes with the next quote."""
        if self.book.deep:
            self.book.take(not buy, price, qty, refill)

    def print_trade(self, t: int, buy: bool, price: int, qty: int, refill: int, other: tuple[int, int] | None) -> None:
        """A trade consumes the book as one update: the taken side's levels through `price` go and the level
        at `price` shrinks by `qty` (see `Book.take`). `other` = (max ticks from the trade price, qty): when
        the opposite best is further away than that (or missing), a level one tick off the trade is quoted.
        The replay feed's writer: its states keep the full book (`deep`)."""
        self.ensure_depth()
        self.begin_update()
        book = self.book
        book.take(not buy, price, qty, refill)
        if other is not None:
            max_ticks, other_qty = other
            tick = self.spec.tick
            best = book.side(buy).best()
            if best is None or abs(best[0] - price) > max_ticks * tick:
                book.place_top(buy, price - tick if buy else price + tick, other_qty)
        self.commit_update(t, amend=False)

    def begin_update(self) -> None:
        """Start one order-book update: changes made to `book` until `commit_update` share its id."""
        self.update_id += 1
        self.book.uid = self.update_id

    def commit_update(self, t: int, amend: bool) -> None:
        """End the update: refresh the top, fill in unseen depth (`amend`: re-size a level), tell the sink."""
        book = self.book
        if book.deep:
            best_bid, best_ask = book.bids.best(), book.asks.best()
            if best_bid is not None:
                self.bid, self.bid_qty = best_bid
            if best_ask is not None:
                self.ask, self.ask_qty = best_ask
            # Deeper levels are sized after the touch; finish() never changes the best level of a side.
            book.finish(max(self.bid_qty, self.ask_qty, self.spec.step), amend)
        self.book_time = t
        if self.sink is not None:
            self.sink.on_book(self)

    # diff-depth bookkeeping (the hub calls these) ------------------------------------------------------
    def ensure_depth(self) -> None:
        """From now on keep a full book: the first request for depth fills it in, as one update."""
        if not self.book.deep:
            self.book.deep = True
            self.begin_update()
            self.quote(self.bid, self.bid_qty, self.ask, self.ask_qty)
            self.commit_update(self.book_time, amend=False)

    def open_diff(self, key: str) -> None:
        """A diff-depth stream starts: its first event begins after the current update id."""
        self.ensure_depth()
        self.diff_sent.setdefault(key, self.update_id)
        self._log_window()

    def close_diff(self, key: str) -> None:
        """A diff-depth stream has no subscriber left."""
        self.diff_sent.pop(key, None)
        self._log_window()

    def diff_event(self, key: str, skip: bool = False) -> tuple[int, int, Levels] | None:
        """(U, u, changed levels) since the stream's last event, None when nothing changed; `skip` consumes
        the range without returning it (a `depth_gap` fault: the client then sees U > previous u + 1)."""
        last = self.diff_sent.get(key)
        if last is None or last >= self.update_id:
            return None
        levels = None if skip else self.book.diff(last)
        self.diff_sent[key] = self.update_id
        self._log_window()
        return None if levels is None else (last + 1, self.update_id, levels)

    def _log_window(self) -> None:
        book = self.book
        if not self.diff_sent:
            book.log_from = None
            book.changes.clear()
            return
        oldest = min(self.diff_sent.values())
        book.log_from = oldest
        book.forget_until(oldest)

    def add_agg(self, agg: Agg) -> None:
        """Record an aggregate trade: history, klines, subscribers."""
        aggs = self.aggs
        aggs.append(agg)
        if len(aggs) > self.trade_cap + self.trade_cap // 4:
            aggs.forget(len(aggs) - self.trade_cap)
        elif len(aggs) % 1024 == 0:  # checked every 1,024 trades: cheap
            aggs.forget(aggs.bisect_time(agg.T - self.keep_ms))
        quote = mul_e8(agg.p, agg.q)
        self.s1.add_trade(agg.T, agg.p, agg.q, quote, not agg.m, agg.f, agg.l)
        self.m1.add_trade(agg.T, agg.p, agg.q, quote, not agg.m, agg.f, agg.l)
        if self.sink is not None:
            self.sink.on_agg(self, agg)

    # readers -----------------------------------------------------------------------------------------
    def last_price(self) -> int:
        """Price of the last trade, else the mid of the book."""
        if self.aggs:
            return self.aggs[-1].p
        bar = self.m1.last()
        if bar is not None:
            return bar[4]
        return (self.bid + self.ask) // 2 // self.spec.tick * self.spec.tick

    def depth(self, limit: int) -> Levels:
        """Up to `limit` (price, qty) levels per side, best first; level 0 is the top of book."""
        self.ensure_depth()
        return self.book.bids.top(limit), self.book.asks.top(limit)

    def base_for(self, interval_ms: int) -> BaseSeries:
        """The bar series klines of this interval are built from (a file's own bars when they fit)."""
        if self.fixed is not None and interval_ms >= self.fixed.iv and interval_ms % self.fixed.iv == 0:
            return self.fixed
        return self.s1 if interval_ms < MINUTE else self.m1

    def klines(self, interval: str, start: int | None, end: int | None, limit: int, tz_ms: int = 0) -> list[Bar]:
        """Bars of `interval` with Binance's startTime/endTime/limit rules, up to `final_ms`: a bar served
        as closed never changes afterwards (REST and the kline stream agree)."""
        return query(self.base_for(INTERVALS[interval]), interval, start, end, limit, self.final_ms, tz_ms)

    def aggs_from_id(self, from_id: int, limit: int) -> list[Agg]:
        """Aggregate trades with id >= from_id (contiguous ids make this an index)."""
        if not self.aggs:
            return []
        i = max(0, from_id - self.aggs[0].a)
        return self.aggs[i : i + limit]

    def aggs_between(self, start: int | None, end: int | None, limit: int) -> list[Agg]:
        """Binance's aggTrades time rules: start only = oldest from start, end only = newest up to end."""
        aggs = self.aggs
        lo = 0 if start is None else aggs.bisect_time(start)
        hi = len(aggs) if end is None else aggs.bisect_time(end, right=True)
        if start is None:
            return aggs[max(lo, hi - limit) : hi]
        return aggs[lo : min(hi, lo + limit)]

    def recent_trades(self, limit: int) -> list[Trade]:
        """The newest `limit` individual trades, oldest first."""
        out: list[Trade] = []
        for agg in reversed(self.aggs):
            fills = list(expand(agg))
            out.extend(reversed(fills))
            if len(out) >= limit:
                break
        out = out[:limit]
        out.reverse()
        return out

    def trades_from_id(self, from_id: int, limit: int) -> list[Trade]:
        """Individual trades with id >= from_id (for historicalTrades)."""
        aggs = self.aggs
        # First aggregate trade whose last fill is >= from_id; ids older than what is kept start at the oldest.
        i = aggs.bisect_last_id(from_id)
        out: list[Trade] = []
        while i < len(aggs) and len(out) < limit:
            out.extend(t for t in expand(aggs[i]) if t.id >= from_id)
            i += 1
        return out[:limit]


def expand(agg: Agg) -> Iterator[Trade]:
    """The individual fills an aggregate trade stands for."""
    n = agg.l - agg.f + 1
    if agg.parts is not None and len(agg.parts) == n:
        qtys: list[int] | tuple[int, ...] = agg.parts
    else:
        each = agg.q // n
        qtys = [each] * (n - 1) + [agg.q - each * (n - 1)]
    for k, q in enumerate(qtys):
        yield Trade(agg.f + k, agg.p, q, mul_e8(agg.p, q), agg.T, agg.m)
