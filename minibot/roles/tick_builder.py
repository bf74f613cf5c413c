"""market_tick payloads from parsed Binance messages, with per-symbol conflation of book updates (pure).

- A bookTicker becomes a `book` tick: price = mid of best bid/ask, exchange_ts and trade_id null
  (Spot bookTicker carries neither an event time nor an id that is a trade id).
- An aggTrade / trade becomes an `agg_trade` / `trade` tick: price = trade price, qty, trade_id, exchange_ts =
  the trade time `T`; bid/ask always come from the symbol's latest book, so a trade that arrives before the
  symbol's first book (stream and REST snapshot race at start) waits for it instead of being dropped or
  given an invented book.
- Conflation (book updates only; trades are never conflated): at most one book tick per symbol per
  `conflation_ms` of run clock. The first update after a quiet period goes out at once; updates inside
  the window replace each other and the latest goes out when the window ends, carrying `conflated` = how
  many updates it replaced. So every book update is either a tick or counted in a tick's `conflated`.
- Trade ids are strictly increasing per symbol and kind: the aggTrade gap filler already guarantees it for
  aggTrades; raw trades have no filler, so a repeated id is counted in `duplicates` and not emitted.
- Depth (`depth_levels` N > 0, from the partial-depth stream): every tick then carries `bids` / `asks`, the
  top N levels as [[price, qty], ...] best first, and `depth_update_id`. A new snapshot is a book update
  (it goes through the same conflation). Level 0 is always the tick's bid/ask: the real-time bookTicker
  is the top, the snapshot gives the levels behind it (its levels at or through the bookTicker's prices
  are dropped). A snapshot older than the one held (lower lastUpdateId) is dropped and counted; one that
  repeats the held id changes nothing. Levels whose snapshot has not advanced for `depth_max_age_ms`
  while the top of book moved on are stale (a stuck depth stream): ticks then carry none (counted in
  `depth_stale`) rather than levels the executor would walk as if they were live.

Receipt stamp `recv_perf_ns` (`time.perf_counter_ns()`, for the pipeline latency: docs/core.md "Pipeline
latency"): a tick that goes out when its message arrives carries that message's receipt. A conflated book
(held, released when its window ends) carries the moment its window ended on the run clock (`perf_at`,
the run clock's `perf_ns_at`), or its latest update's receipt if that came later: the tick is on the market
timeline from then (its `ts` is its release), and the hold before it is the configured data policy
`conflation_ms`, not a delay of the pipeline; a release later than the window's end is. Without `perf_at`
(the backtest) a conflated book carries its latest update's receipt.

No clock, no I/O: run-clock `now_ms` and the receipt time come with each call.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minibot.market.models import AggTrade, BookTicker, DepthSnapshot, MarketMessage
from minibot.reasons import NoreError, ReasonCode

Payload = dict[str, Any]
# A symbol whose trades arrive while no book ever does is broken, not slow: bound the wait.
MAX_TRADES_WAITING_FOR_BOOK = 10_000
# Run-clock ms a depth snapshot may lag the top of book before its levels count as stale (20 pushes of
# the 100 ms stream).
DEPTH_MAX_AGE_MS = 2_000
Levels = list[list[float]]
# A trade as the tick needs it: (symbol, kind "agg_trade" | "trade", trade id (aggTrade: its agg id), price,
# qty, trade time T, buyer_maker, origin).
TradeFields = tuple[str, str, int, float, float, int, bool, str]


@dataclass(slots=True)
class _Pending:
    book: BookTicker
    recv_perf_ns: int
    replaced: int


class TickBuilder:
    """Turns messages into market_tick payloads; call `due(now_ms)` regularly to release conflated books."""

    def __init__(
        self,
        conflation_ms: int,
        depth_levels: int = 0,
        depth_max_age_ms: int = DEPTH_MAX_AGE_MS,
        perf_at: Callable[[int], int] | None = None,
    ) -> None:
        if conflation_ms < 0:
            raise ValueError(f"conflation_ms must be >= 0, got {conflation_ms}")
        if depth_levels < 0:
            raise ValueError(f"depth_levels must be >= 0, got {depth_levels}")
        self.conflation_ms = conflation_ms
        self.depth_levels = depth_levels
        self.depth_max_age_ms = depth_max_age_ms
        self.perf_at = perf_at
        self.depth: dict[str, DepthSnapshot] = {}
        self.depth_updates = 0
        self.depth_out_of_order = 0
        self.depth_stale = 0
        self._depth_advanced_ms: dict[str, int] = {}
        self._now_ms = 0
        self.latest: dict[str, BookTicker] = {}
        self.ticks = 0
        self.book_ticks = 0
        self.trade_ticks = 0
        self.conflated = 0
        self.duplicates = 0
        self._next_book_ms: dict[str, int] = {}
        self._pending: dict[str, _Pending] = {}
        # (window end ms, when it started to be held, symbol) of every held book: `due` and `next_due_ms` run
        # on every pass of the market role, so they must not scan every held symbol (a pass would cost more
        # with every symbol, and there are more passes with more symbols: quadratic).
        self._due_heap: list[tuple[int, int, str]] = []
        self._held_count = 0
        self._waiting: dict[str, list[tuple[TradeFields, int]]] = {}
        self._last_trade_id: dict[tuple[str, str], int] = {}

    def on_message(self, message: MarketMessage, now_ms: int, recv_perf_ns: int) -> list[Payload]:
        """Payloads to publish now for one message (possibly none: conflated, or waiting for a book)."""
        self._now_ms = now_ms
        if isinstance(message, BookTicker):
            return self._on_book(message, now_ms, recv_perf_ns)
        if isinstance(message, DepthSnapshot):
            return self._on_depth(message, now_ms, recv_perf_ns)
        if isinstance(message, AggTrade):
            fields = (message.symbol, "agg_trade", message.agg_id, message.price, message.qty, message.trade_time)
        else:
            fields = (message.symbol, "trade", message.trade_id, message.price, message.qty, message.trade_time)
        return self.on_trade((*fields, message.buyer_maker, message.source), now_ms, recv_perf_ns)

    def on_trade(self, fields: TradeFields, now_ms: int, recv_perf_ns: int) -> list[Payload]:
        """`on_message` for a trade given as its fields (`TradeFields`): the backtest reads recorded trades
        straight into them, without building a message object per trade."""
        self._now_ms = now_ms
        symbol = fields[0]
        if symbol not in self.latest:
            waiting = self._waiting.setdefault(symbol, [])
            if len(waiting) >= MAX_TRADES_WAITING_FOR_BOOK:
                raise NoreError(
                    f"{symbol}: {len(waiting)} trades arrived but no best bid/ask yet (neither the "
                    "bookTicker stream nor the REST snapshot delivered one)",
                    ReasonCode.MARKET_DATA_STALE,
                )
            waiting.append((fields, recv_perf_ns))
            return []
        tick = self._trade_tick(fields, recv_perf_ns)
        return [] if tick is None else [tick]

    def due(self, now_ms: int) -> list[Payload]:
        """Conflated book ticks whose window has ended by `now_ms` (in the order they started to be held)."""
        heap = self._due_heap
        if not heap or heap[0][0] > now_ms:
            return []
        self._now_ms = now_ms
        ready = []
        while heap and heap[0][0] <= now_ms:
            ready.append(heapq.heappop(heap))
        ready.sort(key=lambda entry: entry[1])
        out = []
        for release_ms, _, symbol in ready:
            pending = self._pending.pop(symbol)
            out.append(self._book_tick(pending.book, self._released(pending, release_ms), pending.replaced, now_ms))
        return out

    def next_due_ms(self) -> int | None:
        """Run-clock ms at which the next held book's window ends (None: nothing held)."""
        return self._due_heap[0][0] if self._due_heap else None

    def flush(self, now_ms: int | None = None) -> list[Payload]:
        """Every conflated book still held, regardless of its window (end of the run, at `now_ms`)."""
        if now_ms is not None:
            self._now_ms = now_ms
        pending, self._pending = self._pending, {}
        self._due_heap.clear()
        return [
            self._book_tick(p.book, self._released(p, min(self._next_book_ms[s], self._now_ms)), p.replaced, None)
            for s, p in pending.items()
        ]

    def _released(self, pending: _Pending, release_ms: int) -> int:
        """The receipt stamp of a held book released at run-clock `release_ms` (module docstring)."""
        if self.perf_at is None:
            return pending.recv_perf_ns
        return max(pending.recv_perf_ns, self.perf_at(release_ms))

    def _on_depth(self, depth: DepthSnapshot, now_ms: int, recv_perf_ns: int) -> list[Payload]:
        if self.depth_levels == 0:
            return []
        symbol = depth.symbol
        held = self.depth.get(symbol)
        if held is not None and depth.last_update_id <= held.last_update_id:
            if depth.last_update_id < held.last_update_id:
                self.depth_out_of_order += 1
            return []
        self.depth[symbol] = depth
        self.depth_updates += 1
        self._depth_advanced_ms[symbol] = now_ms
        book = self.latest.get(symbol)
        return [] if book is None else self._book_update(book, now_ms, recv_perf_ns)

    def _levels(self, symbol: str) -> tuple[Levels, Levels, int] | None:
        """(bids, asks, depth_update_id) a tick of `symbol` carries now, None without fresh depth (a stale one
        is counted in `depth_stale`)."""
        depth = self.depth.get(symbol)
        book = self.latest.get(symbol)
        if depth is None or book is None:
            return None
        behind = book.update_id is None or book.update_id > depth.last_update_id
        if behind and self._now_ms - self._depth_advanced_ms[symbol] > self.depth_max_age_ms:
            self.depth_stale += 1
            return None
        bids, asks = merge_top(book, depth, self.depth_levels)
        return bids, asks, depth.last_update_id

    def _on_book(self, book: BookTicker, now_ms: int, recv_perf_ns: int) -> list[Payload]:
        self.latest[book.symbol] = book
        return self._book_update(book, now_ms, recv_perf_ns)

    def _book_update(self, book: BookTicker, now_ms: int, recv_perf_ns: int) -> list[Payload]:
        symbol = book.symbol
        out: list[Payload] = []
        held = self._pending.get(symbol)
        if held is not None:
            held.book, held.recv_perf_ns, held.replaced = book, recv_perf_ns, held.replaced + 1
        elif self.conflation_ms == 0 or now_ms >= self._next_book_ms.get(symbol, now_ms):
            out.append(self._book_tick(book, recv_perf_ns, 0, now_ms))
        else:
            self._held_count += 1
            self._pending[symbol] = _Pending(book, recv_perf_ns, 0)
            heapq.heappush(self._due_heap, (self._next_book_ms[symbol], self._held_count, symbol))
        waiting = self._waiting.pop(symbol, None)
        if waiting:
            out.extend(t for t in (self._trade_tick(f, ns) for f, ns in waiting) if t is not None)
        return out

    def _book_tick(self, book: BookTicker, recv_perf_ns: int, replaced: int, now_ms: int | None) -> Payload:
        if now_ms is not None:
            self._next_book_ms[book.symbol] = now_ms + self.conflation_ms
        self.ticks += 1
        self.book_ticks += 1
        self.conflated += replaced
        return self._with_levels(
            {
                "symbol": book.symbol,
                "price": (book.bid + book.ask) / 2.0,
                "bid": book.bid,
                "ask": book.ask,
                "bid_qty": book.bid_qty,
                "ask_qty": book.ask_qty,
                "kind": "book",
                "exchange_ts": None,
                "trade_id": None,
                "conflated": replaced,
                "recv_perf_ns": recv_perf_ns,
                "origin": book.source,
            }
        )

    def _trade_tick(self, fields: TradeFields, recv_perf_ns: int) -> Payload | None:
        symbol, kind, trade_id, price, qty, trade_time, buyer_maker, origin = fields
        key = (symbol, kind)
        last = self._last_trade_id.get(key)
        if last is not None and trade_id <= last:
            self.duplicates += 1
            return None
        self._last_trade_id[key] = trade_id
        book = self.latest[symbol]
        self.ticks += 1
        self.trade_ticks += 1
        payload = {
            "symbol": symbol,
            "price": price,
            "bid": book.bid,
            "ask": book.ask,
            "bid_qty": book.bid_qty,
            "ask_qty": book.ask_qty,
            "kind": kind,
            "exchange_ts": trade_time,
            "trade_id": trade_id,
            "qty": qty,
            "buyer_maker": buyer_maker,
            "recv_perf_ns": recv_perf_ns,
            "origin": origin,
        }
        return self._with_levels(payload) if self.depth_levels else payload

    def _with_levels(self, payload: Payload) -> Payload:
        if self.depth_levels:
            levels = self._levels(payload["symbol"])
            if levels is not None:
                payload["bids"], payload["asks"], payload["depth_update_id"] = levels
        return payload


def merge_top(book: BookTicker, depth: DepthSnapshot, n: int) -> tuple[Levels, Levels]:
    """Top `n` levels per side: the bookTicker's best, then the snapshot's levels strictly behind it."""
    bids = [[book.bid, book.bid_qty]] if book.bid_qty > 0 else []
    bids.extend([p, q] for p, q in depth.bids if p < book.bid)
    asks = [[book.ask, book.ask_qty]] if book.ask_qty > 0 else []
    asks.extend([p, q] for p, q in depth.asks if p > book.ask)
    return bids[:n], asks[:n]
