"""Binance bookTicker recordings (`SYMBOL-bookTicker-DATE.csv`, .gz or .zip) for `nore backtest`.

Columns: update_id, best bid price, best bid qty, best ask price, best ask qty, transaction_time,
event_time (a header line is optional). A day of a busy futures symbol holds tens of millions of rows, so
nothing is kept in memory: `read_book_file` validates the whole file in one pass and keeps only what the
run needs up front (row count, first bid, price and quantity grid), and `book_messages` reads it again as
the backtest goes. Before this, the rows were held as tuples: 2 million rows took 620 MB.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from minibot.market.models import BookTicker, MarketMessage, Source
from minibot.marketdata.datafiles import DataFileError, open_text, to_ms
from minibot.marketdata.num import parse_e8, pow10_unit

E8 = 1e8
_COLUMNS = 7
Fields = tuple[int, int, int, int, int]  # ts, bid, bid qty, ask, ask qty (prices and quantities in 1e-8 units)


@dataclass(frozen=True)
class BookFile:
    """A validated bookTicker file: its symbol, data rows, first bid (1e-8 units) and price/qty grid."""

    path: Path
    symbol: str
    rows: int
    first_bid: int
    tick: int
    step: int


def _strict(path: Path, lineno: int, line: str) -> Fields | None:
    """One line checked field by field; None for the header or a blank line. DataFileError names the file
    and line of any problem."""
    cols = [c.strip() for c in line.strip().split(",")]
    if cols == [""] or (lineno == 1 and not cols[0].isdigit()):
        return None
    try:
        if len(cols) < 6:
            raise ValueError(f"{len(cols)} columns, a bookTicker row has {_COLUMNS}")
        bid, bq, ask, aq = (parse_e8(c) for c in cols[1:5])
        ts = to_ms(int(cols[5]))
        if not 0 < bid <= ask:
            raise ValueError(f"bid {cols[1]} / ask {cols[3]} is not a sane book")
    except ValueError as exc:
        raise DataFileError(f"{path}:{lineno}: {exc}") from exc
    return ts, bid, bq, ask, aq


def read_book_file(path: Path) -> BookFile:
    """Validate a bookTicker CSV end to end without keeping its rows; DataFileError names the file and line
    of any problem (a bad field, an insane book, time going backwards)."""
    rows = first_bid = last_ts = 0
    price_gcd = qty_gcd = 0
    with open_text(path) as text:
        for lineno, line in enumerate(text, start=1):
            fields = _strict(path, lineno, line)
            if fields is None:
                continue
            ts, bid, bq, ask, aq = fields
            if rows and ts < last_ts:
                raise DataFileError(f"{path}:{lineno}: time goes backwards ({ts} after {last_ts})")
            if not rows:
                first_bid = bid
            rows += 1
            last_ts = ts
            price_gcd = math.gcd(price_gcd, bid, ask)
            qty_gcd = math.gcd(qty_gcd, bq, aq)
    if not rows:
        raise DataFileError(f"{path}: no data rows")
    symbol = path.name.split("-")[0]
    return BookFile(path, symbol, rows, first_bid, pow10_unit(price_gcd), pow10_unit(qty_gcd) if qty_gcd else 1)


def book_messages(bf: BookFile, origin: Source) -> Iterator[tuple[int, MarketMessage]]:
    """(exchange time ms, book message) of every row of a file `read_book_file` validated.

    Plain `float`/`int` on the split line (float(text) is the correctly rounded value, as parse_e8(text) / 1e8
    is); a line they do not take as is goes through the strict parser, which gives the same numbers or names
    the problem. A file that changed since its validation fails (DataFileError) rather than trade on rows
    nobody checked."""
    n = 0
    last_ts = 0
    with open_text(bf.path) as text:
        for lineno, line in enumerate(text, start=1):
            cols = line.split(",")  # the line end stays on the last column, which is never read here
            row: tuple[int, float, float, float, float] | None = None
            try:
                if len(cols) == _COLUMNS:
                    row = (to_ms(int(cols[5])), float(cols[1]), float(cols[2]), float(cols[3]), float(cols[4]))
            except ValueError:
                pass
            if row is None:
                fields = _strict(bf.path, lineno, line)
                if fields is None:
                    continue
                ts, bid, bq, ask, aq = fields
                row = (ts, bid / E8, bq / E8, ask / E8, aq / E8)
            if n >= bf.rows or row[0] < last_ts or not 0 < row[1] <= row[3]:
                raise DataFileError(f"{bf.path}:{lineno}: the file changed since it was validated")
            last_ts = row[0]
            yield row[0], BookTicker(bf.symbol, row[1], row[2], row[3], row[4], n, origin)
            n += 1
    if n != bf.rows:
        raise DataFileError(f"{bf.path}: {n} rows now, {bf.rows} when it was validated: the file changed")
