"""The public REST endpoints under /api/v3, answering with Binance's field names, types and errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from minibot.marketdata.intervals import INTERVALS, MINUTE
from minibot.marketdata.num import fmt8
from minibot.marketdata.symbols import exchange_symbol
from minibot.sim.bars import rest_kline
from minibot.sim.context import SimContext
from minibot.sim.errors import BinanceError, invalid_value, mandatory
from minibot.sim.params import Params, tz_offset
from minibot.sim.state import SymbolState
from minibot.sim.tickers import FULL_24H, FULL_ROLLING, MINI, average_price, window_stats

_WINDOWS = {"m": MINUTE, "h": 60 * MINUTE, "d": 1440 * MINUTE}
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def ping(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/ping."""
    return {}


def server_time(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/time, with any clock_skew fault applied."""
    return {"serverTime": (ctx.now() + ctx.faults.skew_ms()) * p.unit}


def exchange_info(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/exchangeInfo."""
    chosen = p.symbols(ctx)
    states = chosen if chosen is not None else list(ctx.market.states.values())
    status = p.q.get("symbolStatus")
    if status is not None:
        if status not in ("TRADING", "HALT", "BREAK"):
            raise invalid_value("symbolStatus")
        if status != "TRADING":
            if chosen is not None and len(chosen) == 1:
                raise BinanceError(400, -1220, "The symbol's status does not match the requested symbolStatus.")
            states = []
    show_sets = p.q.get("showPermissionSets", "true").lower() != "false"
    symbols = []
    for st in states:
        entry = exchange_symbol(st.spec)
        if not show_sets:
            entry["permissionSets"] = []
        symbols.append(entry)
    return {
        "timezone": "UTC",
        "serverTime": (ctx.now() + ctx.faults.skew_ms()) * p.unit,
        "rateLimits": [
            dict(r, limit=ctx.limiter.limit) if r["rateLimitType"] == "REQUEST_WEIGHT" else r for r in RATE_LIMITS
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }


def depth(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/depth."""
    st = p.symbol(ctx)
    limit = p.bounded("limit", 100, 1, 5000)
    bids, asks = st.depth(limit)
    return {
        "lastUpdateId": st.update_id,
        "bids": [[fmt8(px), fmt8(q)] for px, q in bids],
        "asks": [[fmt8(px), fmt8(q)] for px, q in asks],
    }


def _trade_json(t: Any, unit: int) -> dict[str, Any]:
    return {
        "id": t.id,
        "price": fmt8(t.p),
        "qty": fmt8(t.q),
        "quoteQty": fmt8(t.quote),
        "time": t.T * unit,
        "isBuyerMaker": t.m,
        "isBestMatch": True,
    }


def recent_trades(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/trades."""
    st = p.symbol(ctx)
    return [_trade_json(t, p.unit) for t in st.recent_trades(p.bounded("limit", 500, 1, 1000))]


def historical_trades(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/historicalTrades (public since Binance made it security type NONE)."""
    st = p.symbol(ctx)
    limit = p.bounded("limit", 500, 1, 1000)
    from_id = p.opt_int("fromId")
    trades = st.recent_trades(limit) if from_id is None else st.trades_from_id(from_id, limit)
    return [_trade_json(t, p.unit) for t in trades]


def agg_trades(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/aggTrades: fromId (contiguous ids, for back-filling a stream gap) or a time window."""
    st = p.symbol(ctx)
    limit = p.bounded("limit", 500, 1, 1000)
    from_id = p.opt_int("fromId")
    start, end = p.time("startTime"), p.time("endTime")
    if from_id is not None:
        aggs = [a for a in st.aggs_from_id(from_id, limit) if end is None or end >= a.T]
    else:
        aggs = st.aggs_between(start, end, limit)
    u = p.unit
    return [
        {"a": a.a, "p": fmt8(a.p), "q": fmt8(a.q), "f": a.f, "l": a.l, "T": a.T * u, "m": a.m, "M": True} for a in aggs
    ]


def klines(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/klines (and uiKlines)."""
    st = p.symbol(ctx)
    interval = p.q.get("interval")
    if not interval:
        raise mandatory("interval")
    if interval not in INTERVALS:
        raise BinanceError(400, -1120, "Invalid interval.")
    tz = tz_offset(p.q.get("timeZone"))
    limit = p.bounded("limit", 500, 1, 1000)
    bars = st.klines(interval, p.time("startTime"), p.time("endTime"), limit, tz)
    return [rest_kline(b, interval, tz, p.unit) for b in bars]


def avg_price(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/avgPrice: volume-weighted price of the last 5 minutes."""
    st = p.symbol(ctx)
    price, last_t = average_price(st, ctx.market.now)
    return {"mins": 5, "price": fmt8(price), "closeTime": last_t * p.unit}


def _ticker_full(p: Params) -> bool:
    kind = p.q.get("type", "FULL")
    if kind not in ("FULL", "MINI"):
        raise invalid_value("type")
    return kind == "FULL"


def _one_or_list(chosen: list[SymbolState] | None, p: Params, fn: Callable[[SymbolState], Any], ctx: SimContext) -> Any:
    if chosen is not None and p.has("symbol"):
        return fn(chosen[0])
    return [fn(st) for st in (chosen if chosen is not None else ctx.market.states.values())]


def ticker_24hr(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/ticker/24hr."""
    fields = FULL_24H if _ticker_full(p) else MINI
    now = ctx.market.now
    return _one_or_list(p.symbols(ctx), p, lambda st: window_stats(st, now, 1440 * MINUTE, p.unit, fields), ctx)


def ticker_rolling(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/ticker: rolling window (`windowSize` 1m..59m, 1h..23h, 1d..7d)."""
    fields = FULL_ROLLING if _ticker_full(p) else MINI
    chosen = p.symbols(ctx)
    if chosen is None:
        raise BinanceError(400, -1102, "Param 'symbol' or 'symbols' must be sent, but both were empty/null!")
    raw = p.q.get("windowSize", "1d")
    m = re.match(r"^(\d+)([mhd])$", raw)
    limits = {"m": 59, "h": 23, "d": 7}
    if m is None or not 1 <= int(m.group(1)) <= limits[m.group(2)]:
        raise invalid_value("windowSize")
    window = int(m.group(1)) * _WINDOWS[m.group(2)]
    now = ctx.market.now
    return _one_or_list(chosen, p, lambda st: window_stats(st, now, window, p.unit, fields), ctx)


def ticker_price(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/ticker/price."""
    return _one_or_list(p.symbols(ctx), p, lambda st: {"symbol": st.spec.symbol, "price": fmt8(st.last_price())}, ctx)


def book_ticker(ctx: SimContext, p: Params) -> Any:
    """GET /api/v3/ticker/bookTicker."""

    def one(st: SymbolState) -> dict[str, Any]:
        return {
            "symbol": st.spec.symbol,
            "bidPrice": fmt8(st.bid),
            "bidQty": fmt8(st.bid_qty),
            "askPrice": fmt8(st.ask),
            "askQty": fmt8(st.ask_qty),
        }

    return _one_or_list(p.symbols(ctx), p, one, ctx)


ROUTES: dict[str, Callable[[SimContext, Params], Any]] = {
    "/api/v3/ping": ping,
    "/api/v3/time": server_time,
    "/api/v3/exchangeInfo": exchange_info,
    "/api/v3/depth": depth,
    "/api/v3/trades": recent_trades,
    "/api/v3/historicalTrades": historical_trades,
    "/api/v3/aggTrades": agg_trades,
    "/api/v3/klines": klines,
    "/api/v3/uiKlines": klines,
    "/api/v3/avgPrice": avg_price,
    "/api/v3/ticker/24hr": ticker_24hr,
    "/api/v3/ticker": ticker_rolling,
    "/api/v3/ticker/price": ticker_price,
    "/api/v3/ticker/bookTicker": book_ticker,
}
