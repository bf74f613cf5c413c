"""Query parameters of the REST endpoints, validated with Binance's error codes and messages."""

from __future__ import annotations

import json
import re

from aiohttp import web

from minibot.marketdata.intervals import MINUTE
from minibot.sim.context import SimContext
from minibot.sim.errors import BinanceError, illegal, invalid_value, mandatory
from minibot.sim.state import SymbolState

_SYMBOL = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_TZ = re.compile(r"^([+-]?)(\d{1,2})(?::(\d{2}))?$")
_MICROS = 10**15


class Params:
    """Query parameters with Binance's validation errors."""

    def __init__(self, request: web.Request) -> None:
        self.q = request.query
        for key in self.q:
            if len(self.q.getall(key)) > 1:
                raise BinanceError(400, -1101, "Duplicate values for a parameter detected.")
        unit = request.headers.get("X-MBX-TIME-UNIT")
        if unit is None or unit.upper() == "MILLISECOND":
            self.unit = 1
        elif unit.upper() == "MICROSECOND":
            self.unit = 1000
        else:
            raise BinanceError(400, -1194, "Invalid value for time unit; expected either MICROSECOND or MILLISECOND.")

    def has(self, name: str) -> bool:
        """Whether the parameter was sent."""
        return name in self.q

    def symbol(self, ctx: SimContext, name: str = "symbol") -> SymbolState:
        """The mandatory `symbol` parameter, resolved."""
        raw = self.q.get(name)
        if not raw:
            raise mandatory(name)
        return resolve_symbol(ctx, raw)

    def symbols(self, ctx: SimContext) -> list[SymbolState] | None:
        """`symbol` or `symbols` (JSON array); None when neither was sent (meaning all)."""
        if "symbol" in self.q and "symbols" in self.q:
            raise BinanceError(400, -1128, "Combination of optional parameters invalid.")
        if "symbol" in self.q:
            return [self.symbol(ctx)]
        raw = self.q.get("symbols")
        if raw is None:
            return None
        try:
            names = json.loads(raw)
        except ValueError:
            raise BinanceError(400, -1135, "JSON sent for parameter 'symbols' is not valid.") from None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise BinanceError(400, -1135, "JSON sent for parameter 'symbols' is not valid.")
        return [resolve_symbol(ctx, n) for n in names]

    def bounded(self, name: str, default: int, lo: int, hi: int) -> int:
        """An integer parameter clamped into [lo, hi]."""
        raw = self.q.get(name)
        if raw is None or raw == "":
            return default
        if not _DIGITS.match(raw):
            raise illegal(name, "^[0-9]{1,20}$")
        return max(lo, min(hi, int(raw)))

    def opt_int(self, name: str) -> int | None:
        """An optional non-negative integer (ids)."""
        raw = self.q.get(name)
        if raw is None or raw == "":
            return None
        if not _DIGITS.match(raw):
            raise illegal(name, "^[0-9]{1,20}$")
        return int(raw)

    def time(self, name: str) -> int | None:
        """A timestamp parameter in ms or µs, returned in ms."""
        value = self.opt_int(name)
        if value is None:
            return None
        return value // 1000 if value >= _MICROS else value


def resolve_symbol(ctx: SimContext, raw: str) -> SymbolState:
    if not _SYMBOL.match(raw):
        raise illegal("symbol", "^[A-Z0-9-_.]{1,20}$")
    st = ctx.market.states.get(raw)
    if st is None:
        raise BinanceError(400, -1121, "Invalid symbol.")
    return st


def tz_offset(raw: str | None) -> int:
    if raw is None or raw in ("", "0"):
        return 0
    m = _TZ.match(raw)
    if m is None:
        raise invalid_value("timeZone")
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    offset = -minutes if m.group(1) == "-" else minutes
    if not -12 * 60 <= offset <= 14 * 60 or int(m.group(3) or 0) >= 60:
        raise invalid_value("timeZone")
    return offset * MINUTE
