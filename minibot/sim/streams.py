"""Stream names and payloads: `<symbol>@bookTicker`, `@aggTrade`, `@trade`, `@kline_<i>`, `@depth<N>[@100ms]`,
the diff-depth stream `@depth[@100ms]`, and the ticker streams (payloads in minibot.sim.tickers):
`@ticker`, `@miniTicker`, `@ticker_<1h|4h|1d>`, `@avgPrice`, `!ticker@arr`, `!miniTicker@arr`, `!ticker_<w>@arr`.

Payload builders return bytes so one serialisation serves every subscriber; `unit` 1000 produces the
microsecond variant a `timeUnit=MICROSECOND` connection asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from minibot.marketdata.intervals import INTERVALS
from minibot.marketdata.num import fmt8
from minibot.sim.state import Levels, SymbolState, expand
from minibot.sim.tape import Agg
from minibot.sim.tickers import WINDOWS

DEPTH_LEVELS = (5, 10, 20)
# Streams pushed on a timer rather than on a market event (kind -> every how many ms, 0 = from the name).
PERIODIC = {"kline": 0, "depth": 0, "diff": 0, "ticker": 1000, "miniTicker": 1000, "window": 1000,
            "avgPrice": 1000, "arr": 1000}  # fmt: skip


@dataclass(frozen=True)
class StreamName:
    """A parsed stream name: lowercase symbol, kind, and the kline interval or depth levels/period."""

    name: str
    symbol: str
    kind: str
    interval: str = ""
    levels: int = 0
    period_ms: int = 0


def parse_stream(name: str) -> StreamName | None:
    """Parse a stream name; None for names this simulator does not serve (they stay subscribed, silent).

    All-market arrays (`!ticker@arr` ...) have an empty symbol and kind "arr"; `interval` is then the
    ticker kind ("ticker", "miniTicker", "ticker_1h" ...). Rolling-window tickers have kind "window".
    """
    if name.startswith("!"):
        body, sep, tail = name[1:].partition("@")
        if tail == "arr" and (body in ("ticker", "miniTicker") or (body[:7] == "ticker_" and body[7:] in WINDOWS)):
            return StreamName(name, "", "arr", interval=body, period_ms=1000)
        return None
    symbol, sep, rest = name.partition("@")
    if not sep or not symbol or symbol != symbol.lower():
        return None
    if rest in ("bookTicker", "aggTrade", "trade"):
        return StreamName(name, symbol, rest)
    if rest in ("ticker", "miniTicker", "avgPrice"):
        return StreamName(name, symbol, rest, period_ms=1000)
    if rest.startswith("ticker_") and rest[7:] in WINDOWS:
        return StreamName(name, symbol, "window", interval=rest[7:], period_ms=1000)
    if rest.startswith("kline_") and rest[6:] in INTERVALS:
        return StreamName(name, symbol, "kline", interval=rest[6:])
    if rest.startswith("depth"):
        body, _, speed = rest[5:].partition("@")
        if speed not in ("", "100ms", "1000ms"):
            return None
        period = 100 if speed == "100ms" else 1000
        if body == "":
            return StreamName(name, symbol, "diff", period_ms=period)
        if body.isdigit() and int(body) in DEPTH_LEVELS:
            return StreamName(name, symbol, "depth", levels=int(body), period_ms=period)
    return None


def book_ticker(st: SymbolState) -> bytes:
    """`@bookTicker` payload (no event time, by Binance's design)."""
    return (
        f'{{"u":{st.update_id},"s":"{st.spec.symbol}","b":"{fmt8(st.bid)}","B":"{fmt8(st.bid_qty)}",'
        f'"a":"{fmt8(st.ask)}","A":"{fmt8(st.ask_qty)}"}}'
    ).encode()


def agg_trade(symbol: str, agg: Agg, event_ms: int, unit: int) -> bytes:
    """`@aggTrade` payload."""
    return (
        f'{{"e":"aggTrade","E":{event_ms * unit},"s":"{symbol}","a":{agg.a},"p":"{fmt8(agg.p)}",'
        f'"q":"{fmt8(agg.q)}","f":{agg.f},"l":{agg.l},"T":{agg.T * unit},"m":{"true" if agg.m else "false"},'
        f'"M":true}}'
    ).encode()


def trades(symbol: str, agg: Agg, event_ms: int, unit: int) -> list[bytes]:
    """`@trade` payloads of the fills an aggregate trade stands for."""
    m = "true" if agg.m else "false"
    return [
        (
            f'{{"e":"trade","E":{event_ms * unit},"s":"{symbol}","t":{t.id},"p":"{fmt8(t.p)}","q":"{fmt8(t.q)}",'
            f'"T":{t.T * unit},"m":{m},"M":true}}'
        ).encode()
        for t in expand(agg)
    ]


def partial_depth(st: SymbolState, levels: int) -> bytes:
    """`@depth<N>` payload: lastUpdateId and the top N levels (no event type, time or symbol)."""
    bids, asks = st.depth(levels)
    return orjson.dumps(
        {
            "lastUpdateId": st.update_id,
            "bids": [[fmt8(p), fmt8(q)] for p, q in bids],
            "asks": [[fmt8(p), fmt8(q)] for p, q in asks],
        }
    )


def diff_depth(symbol: str, first: int, last: int, levels: Levels, event_ms: int, unit: int) -> bytes:
    """`@depth` diff event: update ids `U`..`u` and the net change of every level they touched (qty 0 = gone)."""
    bids, asks = levels
    return orjson.dumps(
        {
            "e": "depthUpdate",
            "E": event_ms * unit,
            "s": symbol,
            "U": first,
            "u": last,
            "b": [[fmt8(p), fmt8(q)] for p, q in bids],
            "a": [[fmt8(p), fmt8(q)] for p, q in asks],
        }
    )


def wrap(stream: str, payload: bytes) -> bytes:
    """Combined-stream envelope `{"stream": ..., "data": ...}` around an already-serialised payload."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
