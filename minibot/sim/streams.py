"""Stream names and payloads: `<symbol>@bookTicker`, `@aggTrade`, `@trade`, `@kline_<i>`, `@depth<N>[@100ms]`.

Payload builders return bytes so one serialisation serves every subscriber; `unit` 1000 produces the
microsecond variant a `timeUnit=MICROSECOND` connection asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from minibot.sim.bars import INTERVALS
from minibot.sim.num import fmt8
from minibot.sim.state import Agg, SymbolState, expand

DEPTH_LEVELS = (5, 10, 20)


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
    """Parse a stream name; None for names this simulator does not serve (they stay subscribed, silent)."""
    symbol, sep, rest = name.partition("@")
    if not sep or not symbol or symbol != symbol.lower():
        return None
    if rest in ("bookTicker", "aggTrade", "trade"):
        return StreamName(name, symbol, rest)
    if rest.startswith("kline_") and rest[6:] in INTERVALS:
        return StreamName(name, symbol, "kline", interval=rest[6:])
    if rest.startswith("depth"):
        body, _, speed = rest[5:].partition("@")
        if body.isdigit() and int(body) in DEPTH_LEVELS and speed in ("", "100ms", "1000ms"):
            return StreamName(name, symbol, "depth", levels=int(body), period_ms=100 if speed == "100ms" else 1000)
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


def wrap(stream: str, payload: bytes) -> bytes:
    """Combined-stream envelope `{"stream": ..., "data": ...}` around an already-serialised payload."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
