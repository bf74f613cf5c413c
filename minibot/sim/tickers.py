"""Ticker statistics Binance computes from trades: rolling-window 24 h / `windowSize` tickers and the
5-minute average price, for REST (`/ticker/24hr`, `/ticker`, `/avgPrice`) and the ticker streams
(`@ticker`, `@miniTicker`, `@ticker_<w>`, `!ticker@arr`, `!miniTicker@arr`, `!ticker_<w>@arr`, `@avgPrice`).

Statistics come from the symbol's one-minute bars (built from every simulated or replayed trade), so
open/high/low/last, volume, quote volume, weighted average, first/last trade id and count agree with
`/klines` and `/aggTrades`. The window starts on a whole minute, as Binance's does.
"""

from __future__ import annotations

from typing import Any

import orjson

from minibot.marketdata.intervals import MINUTE
from minibot.marketdata.num import E8, fmt8, fmt_pct
from minibot.sim.state import SymbolState

_STATS_TAIL = ("volume", "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count")
FULL_24H = (
    "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice", "lastPrice", "lastQty",
    "bidPrice", "bidQty", "askPrice", "askQty", "openPrice", "highPrice", "lowPrice", *_STATS_TAIL,
)  # fmt: skip
FULL_ROLLING = (
    "symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "openPrice", "highPrice", "lowPrice",
    "lastPrice", *_STATS_TAIL,
)  # fmt: skip
MINI = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", *_STATS_TAIL)


def window_stats(st: SymbolState, now: int, window_ms: int, unit: int, fields: tuple[str, ...]) -> dict[str, Any]:
    """Ticker statistics for one symbol over (now - window, now], from 1-minute bars, in `fields` order."""
    start = now - window_ms
    lo = start - start % MINUTE
    open_px = high = low = prev = -1
    vol = quote = count = 0
    first_id = last_id = -1
    for bar in st.base_for(MINUTE).iter_range(lo - MINUTE, now, now):
        if bar[0] < lo:
            prev = bar[4]
        elif bar[7] > 0:
            if open_px < 0:
                open_px, high, low, first_id = bar[1], bar[2], bar[3], bar[10]
            high, low = max(high, bar[2]), min(low, bar[3])
            vol += bar[5]
            quote += bar[6]
            count += bar[7]
            last_id = bar[11]
    last = st.last_price()
    if open_px < 0:
        open_px = high = low = last
    values: dict[str, Any] = {
        "symbol": st.spec.symbol,
        "priceChange": fmt8(last - open_px),
        "priceChangePercent": fmt_pct(last - open_px, open_px),
        "weightedAvgPrice": fmt8(quote * E8 // vol if vol else last),
        "prevClosePrice": fmt8(prev if prev > 0 else open_px),
        "lastPrice": fmt8(last),
        "lastQty": fmt8(st.aggs[-1].q if st.aggs else 0),
        "bidPrice": fmt8(st.bid),
        "bidQty": fmt8(st.bid_qty),
        "askPrice": fmt8(st.ask),
        "askQty": fmt8(st.ask_qty),
        "openPrice": fmt8(open_px),
        "highPrice": fmt8(high),
        "lowPrice": fmt8(low),
        "volume": fmt8(vol),
        "quoteVolume": fmt8(quote),
        "openTime": start * unit,
        "closeTime": now * unit,
        "firstId": first_id,
        "lastId": last_id,
        "count": count,
    }
    return {k: values[k] for k in fields}


def average_price(st: SymbolState, now: int) -> tuple[int, int]:
    """(volume-weighted price of the last 5 minutes, time of the last trade) in e8 and ms."""
    vol = quote = 0
    for bar in st.base_for(MINUTE).iter_range(now - 5 * MINUTE, now, now):
        vol += bar[5]
        quote += bar[6]
    price = round(quote * E8 // vol / st.spec.tick) * st.spec.tick if vol else st.last_price()
    return price, st.aggs[-1].T if st.aggs else now


# Stream field -> REST field, in Binance's stream order.
_WS_FULL = (
    ("p", "priceChange"), ("P", "priceChangePercent"), ("w", "weightedAvgPrice"), ("x", "prevClosePrice"),
    ("c", "lastPrice"), ("Q", "lastQty"), ("b", "bidPrice"), ("B", "bidQty"), ("a", "askPrice"), ("A", "askQty"),
    ("o", "openPrice"), ("h", "highPrice"), ("l", "lowPrice"), ("v", "volume"), ("q", "quoteVolume"),
    ("O", "openTime"), ("C", "closeTime"), ("F", "firstId"), ("L", "lastId"), ("n", "count"),
)  # fmt: skip
_WS_WINDOW = (
    ("p", "priceChange"), ("P", "priceChangePercent"), ("o", "openPrice"), ("h", "highPrice"), ("l", "lowPrice"),
    ("c", "lastPrice"), ("w", "weightedAvgPrice"), ("v", "volume"), ("q", "quoteVolume"),
    ("O", "openTime"), ("C", "closeTime"), ("F", "firstId"), ("L", "lastId"), ("n", "count"),
)  # fmt: skip
_WS_MINI = (("c", "lastPrice"), ("o", "openPrice"), ("h", "highPrice"), ("l", "lowPrice"), ("v", "volume"),
            ("q", "quoteVolume"))  # fmt: skip
WINDOWS = {"1h": 60 * MINUTE, "4h": 240 * MINUTE, "1d": 1440 * MINUTE}
DAY_MS = 1440 * MINUTE


def ticker_event(st: SymbolState, now: int, unit: int, kind: str, window: str = "") -> dict[str, Any]:
    """One ticker event: kind "ticker" (24hrTicker), "miniTicker" (24hrMiniTicker) or "window" (`<w>Ticker`)."""
    fields: tuple[tuple[str, str], ...]
    if kind == "ticker":
        etype, span, fields = "24hrTicker", DAY_MS, _WS_FULL
    elif kind == "miniTicker":
        etype, span, fields = "24hrMiniTicker", DAY_MS, _WS_MINI
    else:
        etype, span, fields = f"{window}Ticker", WINDOWS[window], _WS_WINDOW
    stats = window_stats(st, now, span, unit, FULL_24H)
    event: dict[str, Any] = {"e": etype, "E": now * unit, "s": st.spec.symbol}
    for short, long in fields:
        event[short] = stats[long]
    return event


def ticker_payload(st: SymbolState, now: int, unit: int, kind: str, window: str = "") -> bytes:
    """A ticker event serialised."""
    return orjson.dumps(ticker_event(st, now, unit, kind, window))


def avg_price_payload(st: SymbolState, now: int, unit: int) -> bytes:
    """`@avgPrice` event: the 5-minute average, pushed every second."""
    price, last_t = average_price(st, now)
    return (
        f'{{"e":"avgPrice","E":{now * unit},"s":"{st.spec.symbol}","i":"5m","w":"{fmt8(price)}","T":{last_t * unit}}}'
    ).encode()
