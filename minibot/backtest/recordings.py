"""Binance public-data recordings as one stream of market messages, merged in time order, for `nore backtest`.

trades and aggTrades files (CSV, .gz or .zip, as data.binance.vision publishes them) are read with the
parser the simulator uses too (`minibot.marketdata.datafiles`: the same validation and the same numbers a
`--sim --sim-data` night serves), so a backtest and a simulated night of the same file read it identically.
bookTicker files (`SYMBOL-bookTicker-DATE.csv`) are read by `minibot.backtest.bookticker`. Several files and
symbols are merged by exchange time (ties: file order, then row order), so the stream is a pure function of
the files.

A symbol without a bookTicker file gets its book from its trades, as the simulator derives it: a trade where
the buyer was the maker sold into the bid, so bid = its price and the ask stays if within 5 ticks above,
else one tick above; a buy sets the ask likewise. Both best levels show 4 x the recent average trade size
(an exponential average, weight 0.05 per trade, floored to the step): the simulator's mean book size
without its random factor. The exchange filters are the simulator's (`minibot.marketdata.symbols`) for the
data's price and quantity grid (`exchange_info`), so a backtest and a simulated night of one file trade on
the same grid.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from minibot.backtest.bookticker import BookFile, book_messages, read_book_file
from minibot.market.models import BookTicker, MarketMessage, Source
from minibot.marketdata.datafiles import KIND_COLUMNS, MICROS, DataFile, DataFileError, Row, open_text, parse_row, scan
from minibot.marketdata.symbols import exchange_symbol, make_spec
from minibot.roles.tick_builder import TradeFields

E8 = 1e8
_OTHER_SIDE_TICKS = 5
_SIZE_FACTOR = 4  # best-level size = 4 x the recent average trade size (the simulator's mean, no randomness)
_MAKER = {"True": True, "False": False, "true": True, "false": False}
ORIGIN: Source = "backfill"  # the ticks' `origin`: recorded, not live
Item = MarketMessage | TradeFields
_TICK_KIND = {"aggTrades": "agg_trade", "trades": "trade"}  # file kind -> tick kind


@dataclass
class Recording:
    """The files of a backtest, validated."""

    trades: list[DataFile] = field(default_factory=list)
    books: list[BookFile] = field(default_factory=list)

    @property
    def symbols(self) -> list[str]:
        """Every symbol, sorted."""
        return sorted({d.symbol for d in self.trades} | {b.symbol for b in self.books})

    def describe(self) -> list[dict[str, Any]]:
        """Per file: path, symbol, kind, rows (for run.json)."""
        return [{"path": str(d.path), "symbol": d.symbol, "kind": d.kind, "rows": d.rows} for d in self.trades] + [
            {"path": str(b.path), "symbol": b.symbol, "kind": "bookTicker", "rows": b.rows} for b in self.books
        ]


def load(paths: list[Path]) -> Recording:
    """Validate every file up front (a bad file fails before anything is written)."""
    rec = Recording()
    for path in paths:
        if "-bookTicker-" in path.name:
            rec.books.append(read_book_file(path))
            continue
        df = scan(path)
        if df.kind == "klines":
            raise DataFileError(f"{path}: klines hold no trades and no book; give trades, aggTrades or bookTicker")
        rec.trades.append(df)
    if not rec.trades and not rec.books:
        raise DataFileError("no data file given")
    return rec


def exchange_info(rec: Recording) -> dict[str, Any]:
    """An exchangeInfo document with the simulator's filters for each symbol's recorded price/qty grid."""
    symbols = []
    for sym in rec.symbols:
        trades = [d for d in rec.trades if d.symbol == sym]
        books = [b for b in rec.books if b.symbol == sym]
        tick = min([d.tick for d in trades] + [b.tick for b in books])
        step = min([d.step for d in trades] + [b.step for b in books])
        price = trades[0].first_price if trades else books[0].first_bid
        symbols.append(exchange_symbol(make_spec(sym, tick=tick, step=step, price=price)))
    return {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [], "symbols": symbols}


def _fast_rows(df: DataFile) -> Iterator[Row]:
    """The rows `iter_rows` gives, read again after `scan()` validated the file, without its per-field regexes.

    Plain `int`/`float` on the split line (float(text) is the correctly rounded value, as parse_e8(text)/1e8
    is for the 8-decimal values scan() accepted); a row those do not take as is (spaces, another boolean
    spelling, a file changed since scan) goes through the strict `parse_row`, which gives the same numbers
    or names the file and line of the problem. Prices and quantities come back as floats, the messages' unit.
    """
    aggs = df.kind == "aggTrades"
    width = KIND_COLUMNS[df.kind]
    with open_text(df.path) as text:
        for lineno, line in enumerate(text, start=1):
            cols = line.split(",")  # the line end stays on the last column, which is never read here
            try:
                if len(cols) == width:
                    maker = _MAKER[cols[6 if aggs else 5]]
                    t = int(cols[5 if aggs else 4])
                    if t >= MICROS:  # inline: the hot loop of a backtest
                        t //= 1000
                    if aggs:
                        yield (int(cols[0]), float(cols[1]), float(cols[2]), int(cols[3]), int(cols[4]), t, maker)
                    else:
                        yield (int(cols[0]), float(cols[1]), float(cols[2]), t, maker)
                    continue
            except (KeyError, ValueError):
                pass
            yield from _strict_row(df, lineno, line)


def _strict_row(df: DataFile, lineno: int, line: str) -> Iterator[Row]:
    cols = [c.strip() for c in line.strip().split(",")]
    if cols == [""] or (lineno == 1 and df.has_header):
        return
    try:
        if len(cols) != KIND_COLUMNS[df.kind]:
            raise ValueError(f"{len(cols)} columns, {df.kind} have {KIND_COLUMNS[df.kind]}")
        row = parse_row(df.kind, cols)
    except ValueError as exc:
        raise DataFileError(f"{df.path}:{lineno}: {exc}") from exc
    yield (row[0], row[1] / E8, row[2] / E8, *row[3:])


def _trades(df: DataFile) -> Iterator[tuple[int, TradeFields]]:
    """(time, the trade's `TradeFields`) of every row: no message object per trade (`TickBuilder.on_trade`)."""
    symbol, kind = df.symbol, _TICK_KIND[df.kind]
    for row in _fast_rows(df):  # (id, price, qty, [first id, last id,] time, buyer_maker)
        t = row[-2]
        yield t, (symbol, kind, row[0], row[1], row[2], t, row[-1], ORIGIN)


def _with_derived_books(df: DataFile, tick: float, step: float) -> Iterator[tuple[int, Item]]:
    """`_trades(df)`, each trade preceded by the book it implies when that changed (module docstring); reads
    the rows itself rather than through `_trades`: one generator less per trade on the hot path."""
    symbol, kind = df.symbol, _TICK_KIND[df.kind]
    bid = ask = 0.0
    avg_q = 0.0
    near = _OTHER_SIDE_TICKS * tick
    for row in _fast_rows(df):
        p, q, ts, buyer_maker = row[1], row[2], row[-2], row[-1]
        if buyer_maker:
            new_bid = p
            new_ask = ask if p < ask <= p + near else p + tick
        else:
            new_ask = p
            new_bid = bid if p - near <= bid < p else max(tick, p - tick)
        avg_q = q if avg_q == 0 else 0.95 * avg_q + 0.05 * q
        if new_bid != bid or new_ask != ask:
            bid, ask = round(new_bid, 8), round(new_ask, 8)
            size = max(step, math.floor(avg_q * _SIZE_FACTOR / step) * step)
            size = round(size, 8)
            yield ts, BookTicker(symbol, bid, size, ask, size, None, ORIGIN)
        yield ts, (symbol, kind, row[0], p, q, ts, buyer_maker, ORIGIN)


def messages(rec: Recording) -> Iterator[tuple[int, Item]]:
    """(exchange time ms, item) of every file, merged in time order; an item is a book message or a trade's
    `TradeFields` (a tuple)."""
    booked = {b.symbol for b in rec.books}
    streams: list[Iterator[tuple[int, Item]]] = []
    for df in rec.trades:
        if df.symbol in booked:
            streams.append(_trades(df))
        else:
            streams.append(_with_derived_books(df, df.tick / E8, df.step / E8))
    streams.extend(book_messages(b, ORIGIN) for b in rec.books)
    if len(streams) == 1:
        return streams[0]
    # heapq.merge is stable (ties: stream order, then order within a stream), the documented tie rule.
    return heapq.merge(*streams, key=itemgetter(0))
