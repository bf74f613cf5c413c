"""Parsed Binance market messages, and strict parsers for their WS and REST shapes (reference §2, §4.3).

Prices and quantities arrive as decimal strings; they become floats here because the event contracts
carry finite JSON numbers. A parser raises `MalformedMessage` on anything off-spec (missing field, wrong
type, non-finite or non-positive price) so the caller can count and skip it instead of crashing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from minibot.reasons import Refusal

Source = Literal["ws", "rest", "backfill"]


class MalformedMessage(Refusal, ValueError):
    """A frame or REST item does not have the documented Binance shape."""


@dataclass(frozen=True, slots=True)
class BookTicker:
    """Best bid/ask of one symbol (`<symbol>@bookTicker` or REST `ticker/bookTicker`)."""

    symbol: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    update_id: int | None
    source: Source = "ws"


@dataclass(frozen=True, slots=True)
class AggTrade:
    """One aggregate trade (`<symbol>@aggTrade` or REST `aggTrades`); `agg_id` is contiguous per symbol."""

    symbol: str
    agg_id: int
    price: float
    qty: float
    first_trade_id: int
    last_trade_id: int
    trade_time: int
    event_time: int | None
    buyer_maker: bool
    source: Source = "ws"


@dataclass(frozen=True, slots=True)
class Trade:
    """One raw trade (`<symbol>@trade`)."""

    symbol: str
    trade_id: int
    price: float
    qty: float
    trade_time: int
    event_time: int | None
    buyer_maker: bool
    source: Source = "ws"


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """Top levels of one symbol's book (`<symbol>@depth<N>[@100ms]`): (price, qty) pairs, best first."""

    symbol: str
    last_update_id: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    source: Source = "ws"


MarketMessage = BookTicker | AggTrade | Trade | DepthSnapshot
_PARTIAL_DEPTH = re.compile(r"^depth(5|10|20)(@100ms|@1000ms)?$")


def _object(obj: Any) -> None:
    """A message is a JSON object; a number or list where one was expected is malformed, not a crash."""
    if not isinstance(obj, Mapping):
        raise MalformedMessage(f"expected an object, got {type(obj).__name__}")


def _num(obj: Mapping[str, Any], key: str, positive: bool) -> float:
    raw = obj.get(key)
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise MalformedMessage(f"field {key!r} missing or not a decimal: {raw!r}")
    try:
        value = float(raw)
    except (ValueError, OverflowError) as exc:
        raise MalformedMessage(f"field {key!r} is not a decimal: {raw!r}") from exc
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise MalformedMessage(f"field {key!r} out of range: {raw!r}")
    return value


def _int(obj: Mapping[str, Any], key: str) -> int:
    raw = obj.get(key)
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise MalformedMessage(f"field {key!r} missing or not an integer: {raw!r}")
    return raw


def _opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    return _int(obj, key) if key in obj else None


def _bool(obj: Mapping[str, Any], key: str) -> bool:
    raw = obj.get(key)
    if not isinstance(raw, bool):
        raise MalformedMessage(f"field {key!r} missing or not a boolean: {raw!r}")
    return raw


def _symbol(obj: Mapping[str, Any], key: str = "s") -> str:
    raw = obj.get(key)
    if not isinstance(raw, str) or not (2 <= len(raw) <= 20) or not raw.isalnum() or not raw.isupper():
        raise MalformedMessage(f"field {key!r} is not a symbol: {raw!r}")
    return raw


def parse_book_ticker(obj: Mapping[str, Any], source: Source = "ws") -> BookTicker:
    """WS bookTicker (`u,s,b,B,a,A`) or REST bookTicker (`symbol,bidPrice,...`) -> BookTicker."""
    _object(obj)
    if "bidPrice" in obj:
        return BookTicker(
            symbol=_symbol(obj, "symbol"),
            bid=_num(obj, "bidPrice", True),
            bid_qty=_num(obj, "bidQty", False),
            ask=_num(obj, "askPrice", True),
            ask_qty=_num(obj, "askQty", False),
            update_id=None,
            source=source,
        )
    return BookTicker(
        symbol=_symbol(obj),
        bid=_num(obj, "b", True),
        bid_qty=_num(obj, "B", False),
        ask=_num(obj, "a", True),
        ask_qty=_num(obj, "A", False),
        update_id=_opt_int(obj, "u"),
        source=source,
    )


def parse_agg_trade(obj: Mapping[str, Any], symbol: str | None = None, source: Source = "ws") -> AggTrade:
    """WS aggTrade event, or a REST aggTrades item (no `s`/`E`: pass `symbol`) -> AggTrade."""
    _object(obj)
    return AggTrade(
        symbol=symbol if symbol is not None else _symbol(obj),
        agg_id=_int(obj, "a"),
        price=_num(obj, "p", True),
        qty=_num(obj, "q", True),
        first_trade_id=_int(obj, "f"),
        last_trade_id=_int(obj, "l"),
        trade_time=_int(obj, "T"),
        event_time=_opt_int(obj, "E"),
        buyer_maker=_bool(obj, "m"),
        source=source,
    )


def parse_trade(obj: Mapping[str, Any], source: Source = "ws") -> Trade:
    """WS trade event -> Trade."""
    _object(obj)
    return Trade(
        symbol=_symbol(obj),
        trade_id=_int(obj, "t"),
        price=_num(obj, "p", True),
        qty=_num(obj, "q", True),
        trade_time=_int(obj, "T"),
        event_time=_opt_int(obj, "E"),
        buyer_maker=_bool(obj, "m"),
        source=source,
    )


def _levels(obj: Mapping[str, Any], key: str, descending: bool) -> tuple[tuple[float, float], ...]:
    raw = obj.get(key)
    if not isinstance(raw, list):
        raise MalformedMessage(f"field {key!r} is not a list of levels")
    out: list[tuple[float, float]] = []
    for level in raw:
        if not isinstance(level, list) or len(level) != 2:
            raise MalformedMessage(f"field {key!r}: level {level!r} is not [price, qty]")
        pair = {"p": level[0], "q": level[1]}
        price, qty = _num(pair, "p", True), _num(pair, "q", True)
        if out and (price >= out[-1][0] if descending else price <= out[-1][0]):
            raise MalformedMessage(f"field {key!r}: prices not strictly {'de' if descending else 'in'}creasing")
        out.append((price, qty))
    return tuple(out)


def parse_partial_depth(obj: Mapping[str, Any], symbol: str, source: Source = "ws") -> DepthSnapshot:
    """Partial-depth payload (`lastUpdateId, bids, asks`; no symbol: the stream name gives it) -> DepthSnapshot.

    Bids must fall and asks rise strictly, and the book must not be crossed: a book that is not one would
    make a paper fill walk nonsense.
    """
    snapshot = DepthSnapshot(
        symbol=symbol,
        last_update_id=_int(obj, "lastUpdateId"),
        bids=_levels(obj, "bids", descending=True),
        asks=_levels(obj, "asks", descending=False),
        source=source,
    )
    if snapshot.bids and snapshot.asks and snapshot.bids[0][0] >= snapshot.asks[0][0]:
        raise MalformedMessage(f"{symbol}: crossed book (bid {snapshot.bids[0][0]} >= ask {snapshot.asks[0][0]})")
    return snapshot


def parse_stream_payload(stream: str, data: Any) -> MarketMessage:
    """Dispatch a combined-stream `data` on the stream name's suffix (bookTicker has no `e` field)."""
    if not isinstance(data, dict):
        raise MalformedMessage(f"stream {stream!r}: data is not an object")
    name, _, kind = stream.partition("@")
    message: MarketMessage
    if kind == "bookTicker":
        message = parse_book_ticker(data)
    elif kind == "aggTrade":
        message = parse_agg_trade(data)
    elif kind == "trade":
        message = parse_trade(data)
    elif _PARTIAL_DEPTH.match(kind) and name.isalnum():
        message = parse_partial_depth(data, name.upper())
    else:
        raise MalformedMessage(f"unsupported stream {stream!r}")
    # A frame whose symbol disagrees with its stream name would put a price on the wrong symbol.
    if message.symbol.lower() != name:
        raise MalformedMessage(f"stream {stream!r} carries symbol {message.symbol!r}")
    return message
