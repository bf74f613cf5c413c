"""Reading Binance public-data files as published: aggTrades, trades and klines CSV, plain, `.gz` or `.zip`
(one CSV inside), with or without a header row, timestamps in ms or µs (spot switched to µs in 2025).

`scan()` validates a whole file up front, so a bad file fails at start with its name and line number;
`iter_rows()` then streams the parsed rows lazily, so a month of trades never sits in memory at once.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from minibot.marketdata.intervals import INTERVALS
from minibot.marketdata.num import parse_e8, pow10_unit
from minibot.reasons import Refusal

KIND_COLUMNS = {"aggTrades": 8, "trades": 7, "klines": 12}
_BY_COLUMNS = {v: k for k, v in KIND_COLUMNS.items()}
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
_INT = re.compile(r"^-?\d+$")
MICROS = 10**15
"""A time at least this large is in microseconds (Binance's spot public data since 2025), not milliseconds."""
# Replayable kline intervals: fixed-length ones (1w/1M bars have calendar boundaries).
_FILE_INTERVALS = {k: v for k, v in INTERVALS.items() if k not in ("1w", "1M")}
# Row layouts after parsing:
#   aggTrades: (a, p, q, f, l, T, m)   trades: (id, p, q, T, m)
#   klines: (open, o, h, l, c, volume, close, quote_volume, count, taker_buy_vol, taker_buy_quote)
Row = tuple[Any, ...]


class DataFileError(Refusal, ValueError):
    """A data file that is not a Binance public-data CSV; the message starts with `file:line:`."""


@dataclass
class DataFile:
    """What a full validation pass learned about one file."""

    path: Path
    kind: str
    symbol: str
    has_header: bool
    rows: int
    first_ts: int
    last_ts: int
    first_id: int
    last_id: int
    first_trade_id: int
    last_trade_id: int
    tick: int
    step: int
    first_price: int
    interval_ms: int | None = None


@contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
    """Open a plain, gzip or single-CSV zip file as text."""
    name = path.name.lower()
    if name.endswith(".zip"):
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise DataFileError(f"{path}: not a valid zip file ({exc})") from exc
        with zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise DataFileError(f"{path}: a Binance data zip holds exactly one CSV, found {len(members)} files")
            with zf.open(members[0]) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
                yield text
    elif name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
            yield text
    else:
        with path.open("r", encoding="utf-8", newline="") as text:
            yield text


def symbol_and_kind(path: Path) -> tuple[str, str | None, str | None]:
    """Symbol, kind and kline interval a Binance file name states (`BTCUSDT-aggTrades-2024-01-01.zip`)."""
    stem = path.name.split(".")[0]
    parts = stem.split("-")
    symbol = parts[0]
    if not _SYMBOL.match(symbol):
        raise DataFileError(f"{path}: cannot tell the symbol from the file name (expected SYMBOL-kind-date)")
    second = parts[1] if len(parts) > 1 else ""
    if second in ("aggTrades", "trades"):
        return symbol, second, None
    if second == "1mo" or second in _FILE_INTERVALS or second in ("1w", "1M"):
        return symbol, "klines", second
    return symbol, None, None


def _ts(text: str) -> int:
    if not _INT.match(text):
        raise ValueError(f"not an integer timestamp: {text!r}")
    value = int(text)
    if value <= 0:
        raise ValueError(f"timestamp must be positive: {text!r}")
    return to_ms(value)


def to_ms(value: int) -> int:
    """A public-data time in milliseconds, whether the file gave milliseconds or microseconds."""
    return value // 1000 if value >= MICROS else value


def _int(text: str) -> int:
    if not _INT.match(text):
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


def _bool(text: str) -> bool:
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    raise ValueError(f"not a boolean (True/False): {text!r}")


def _lenient_e8(text: str) -> int:
    """Quote volumes may carry more than 8 decimals in some files: round them to 8."""
    try:
        return parse_e8(text)
    except ValueError:
        whole, _, frac = text.partition(".")
        if not _INT.match(whole) or (frac and not frac.isdigit()):
            raise
        return round(float(text) * 1e8)


def parse_row(kind: str, cols: list[str]) -> Row:
    """Parse one data row of `kind`; ValueError with a readable reason when a field is wrong."""
    if kind == "aggTrades":
        _bool(cols[7])
        return (
            _int(cols[0]),
            parse_e8(cols[1]),
            parse_e8(cols[2]),
            _int(cols[3]),
            _int(cols[4]),
            _ts(cols[5]),
            _bool(cols[6]),
        )
    if kind == "trades":
        _lenient_e8(cols[3])
        _bool(cols[6])
        return (_int(cols[0]), parse_e8(cols[1]), parse_e8(cols[2]), _ts(cols[4]), _bool(cols[5]))
    return (
        _ts(cols[0]),
        parse_e8(cols[1]),
        parse_e8(cols[2]),
        parse_e8(cols[3]),
        parse_e8(cols[4]),
        parse_e8(cols[5]),
        _ts(cols[6]),
        _lenient_e8(cols[7]),
        _int(cols[8]),
        parse_e8(cols[9]),
        _lenient_e8(cols[10]),
    )


def _rows(path: Path, kind: str | None) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, kind, columns) of every data row; detects the kind and skips one header row."""
    with open_text(path) as text:
        for lineno, line in enumerate(text, start=1):
            stripped = line.strip()
            if not stripped:
                continue
            cols = [c.strip() for c in stripped.split(",")]
            found = _BY_COLUMNS.get(len(cols))
            if found is None:
                raise DataFileError(
                    f"{path}:{lineno}: {len(cols)} columns; Binance aggTrades have 8, trades 7, klines 12"
                )
            if kind is not None and found != kind:
                raise DataFileError(f"{path}:{lineno}: {len(cols)} columns, but the file name says {kind}")
            kind = found
            if lineno == 1 and not _INT.match(cols[0]):
                if not re.match(r"^[A-Za-z_ ]+$", cols[0]):
                    raise DataFileError(f"{path}:1: first column is neither a header name nor an integer")
                continue
            yield lineno, kind, cols


def scan(path: Path) -> DataFile:
    """Validate a whole file and summarise it; DataFileError names the file and line of any problem."""
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    symbol, named_kind, named_iv = symbol_and_kind(path)
    info: DataFile | None = None
    has_header = False
    price_gcd = qty_gcd = 0
    prev_ts = -1
    prev_id: int | None = None
    try:
        with open_text(path) as text:
            first = text.readline()
            has_header = bool(first.strip()) and not _INT.match(first.split(",")[0].strip())
    except (UnicodeDecodeError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(f"{path}: cannot read as text: {exc}") from exc
    lineno = 0
    try:
        for lineno, kind, cols in _rows(path, named_kind):
            try:
                row = parse_row(kind, cols)
            except ValueError as exc:
                raise DataFileError(f"{path}:{lineno}: {exc}") from exc
            ts, ident, prices, qty = _fields(kind, row)
            if ts < prev_ts:
                raise DataFileError(f"{path}:{lineno}: time goes backwards ({ts} after {prev_ts})")
            if prev_id is not None and kind != "klines" and ident <= prev_id:
                raise DataFileError(f"{path}:{lineno}: id {ident} not after {prev_id}")
            for p in prices:
                if p <= 0:
                    raise DataFileError(f"{path}:{lineno}: price must be > 0")
                price_gcd = math.gcd(price_gcd, p)
            qty_gcd = math.gcd(qty_gcd, qty)
            if info is None:
                info = DataFile(path, kind, symbol, has_header, 0, ts, ts, ident, ident, 0, 0, 1, 1, prices[0])
                if kind == "klines":
                    info.interval_ms = _interval(path, lineno, row, named_iv)
                info.first_trade_id = row[3] if kind == "aggTrades" else ident
            elif kind == "klines" and info.interval_ms is not None and (ts - info.last_ts) % info.interval_ms:
                raise DataFileError(f"{path}:{lineno}: open time not on the {info.interval_ms} ms grid")
            info.rows += 1
            info.last_ts = ts
            info.last_id = ident
            info.last_trade_id = row[4] if kind == "aggTrades" else ident
            prev_ts, prev_id = ts, ident
    except (UnicodeDecodeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise DataFileError(f"{path}:{lineno + 1}: cannot read: {exc}") from exc
    if info is None:
        raise DataFileError(f"{path}: no data rows")
    info.tick = pow10_unit(price_gcd)
    info.step = pow10_unit(qty_gcd) if qty_gcd else 1
    return info


def _fields(kind: str, row: Row) -> tuple[int, int, tuple[int, ...], int]:
    """(time, id, prices, qty) of a parsed row; klines use the open time as id."""
    if kind == "aggTrades":
        return row[5], row[0], (row[1],), row[2]
    if kind == "trades":
        return row[3], row[0], (row[1],), row[2]
    return row[0], row[0], (row[1], row[2], row[3], row[4]), row[5]


def _interval(path: Path, lineno: int, row: Row, named: str | None) -> int:
    iv = row[6] - row[0] + 1
    if iv not in _FILE_INTERVALS.values():
        raise DataFileError(f"{path}:{lineno}: close - open + 1 = {iv} ms is not a replayable kline interval")
    if named is not None and _FILE_INTERVALS.get(named) != iv:
        raise DataFileError(f"{path}:{lineno}: the file name says interval {named}, rows are {iv} ms apart")
    return iv


def iter_rows(df: DataFile) -> Iterator[Row]:
    """Parsed rows of a file that `scan()` accepted."""
    for _, kind, cols in _rows(df.path, df.kind):
        yield parse_row(kind, cols)
