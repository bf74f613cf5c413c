"""The fan-out of market events to WebSocket connections.

The hub receives every market change once, serialises it once per (time unit, envelope) variant and
queues it on each subscribed connection; a writer task per connection drains its queue (minibot.sim.ws),
so a slow client never stalls the market or other clients (past `max_queue` messages it is dropped).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable

import orjson
from aiohttp import web

from minibot.clock import RunClock
from minibot.sim import streams as S
from minibot.sim.bars import INTERVALS, query, ws_kline
from minibot.sim.faults import FaultController, StreamView
from minibot.sim.market import Market
from minibot.sim.scenario import Fault, WsSettings
from minibot.sim.state import Agg, SymbolState
from minibot.sim.stats import Stats

CLOSE_WAIT_S = 2.0


class Conn:
    """One client connection: its subscriptions, envelope mode, time unit and outgoing queue."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, combined: bool, unit: int, opened_ms: int):
        self.ws = ws
        self.transport = request.transport
        self.combined = combined
        self.unit = unit
        self.opened_ms = opened_ms
        self.streams: dict[str, S.StreamName | None] = {}
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.last_pong = time.monotonic()
        self.in_window = 0
        self.in_count = 0

    def push(self, data: bytes) -> None:
        """Queue one frame."""
        self.queue.append(data)
        self.wake.set()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (what a network failure looks like)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self.wake.set()


class Hub:
    """Subscriptions of all connections and the fan-out of market events to them."""

    def __init__(self, market: Market, clock: RunClock, faults: FaultController, stats: Stats, cfg: WsSettings):
        self.market = market
        self.clock = clock
        self.faults = faults
        self.stats = stats
        self.cfg = cfg
        self.subs: dict[str, set[Conn]] = {}
        self.conns: set[Conn] = set()
        self.view = StreamView()
        self._periodic: dict[str, S.StreamName] = {}
        self._due: dict[str, int] = {}
        self._kline_open: dict[str, int] = {}
        self._sent_for_malformed = 0

    # subscriptions -----------------------------------------------------------------------------------
    def subscribe(self, conn: Conn, names: list[str]) -> None:
        """Add streams to a connection (names kept as given; unknown ones stay listed but silent)."""
        for name in names:
            if name in conn.streams:
                continue
            parsed = S.parse_stream(name)
            conn.streams[name] = parsed
            self.subs.setdefault(name, set()).add(conn)
            if parsed is not None and parsed.kind in ("kline", "depth"):
                self._periodic[name] = parsed

    def unsubscribe(self, conn: Conn, names: list[str]) -> None:
        """Remove streams from a connection."""
        for name in names:
            if name not in conn.streams:
                continue
            del conn.streams[name]
            subs = self.subs.get(name)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self.subs[name]
                    self._periodic.pop(name, None)
                    self._kline_open.pop(name, None)
                    self._due.pop(name, None)

    def remove(self, conn: Conn) -> None:
        """Forget a closed connection."""
        self.unsubscribe(conn, list(conn.streams))
        self.conns.discard(conn)

    # market events -----------------------------------------------------------------------------------
    def on_book(self, state: SymbolState) -> None:
        """Top of book changed: `@bookTicker`."""
        key = state.spec.lower + "@bookTicker"
        if key in self.subs:
            self._deliver(key, state.spec.symbol, _constant(S.book_ticker(state)))

    def on_agg(self, state: SymbolState, agg: Agg) -> None:
        """A trade happened: `@aggTrade` and the `@trade` events of its fills."""
        lower, symbol, now = state.spec.lower, state.spec.symbol, self.market.now
        key = lower + "@aggTrade"
        if key in self.subs:
            self._deliver(key, symbol, lambda unit: S.agg_trade(symbol, agg, now, unit))
        key = lower + "@trade"
        if key in self.subs:
            variants: dict[int, list[bytes]] = {}

            def fill(unit: int, i: int) -> bytes:
                if unit not in variants:
                    variants[unit] = S.trades(symbol, agg, now, unit)
                return variants[unit][i]

            for i in range(agg.l - agg.f + 1):
                self._deliver(key, symbol, functools.partial(_nth_fill, fill, i))

    def periodic(self, now: int) -> None:
        """Kline (every 2 s, 1 s for `1s`) and partial-depth (100 ms / 1000 ms) pushes that are due."""
        for key, sn in list(self._periodic.items()):
            if now < self._due.get(key, 0):
                continue
            period = sn.period_ms if sn.kind == "depth" else (1000 if sn.interval == "1s" else 2000)
            self._due[key] = now - now % period + period
            st = self.market.states.get(sn.symbol.upper())
            if st is None:
                continue
            if sn.kind == "depth":
                self._deliver(key, st.spec.symbol, _constant(S.partial_depth(st, sn.levels)))
            else:
                self._kline(key, sn, st, now)

    def _kline(self, key: str, sn: S.StreamName, st: SymbolState, now: int) -> None:
        base = st.base_for(INTERVALS[sn.interval])
        bars = query(base, sn.interval, None, None, 1, now)
        if not bars:
            return
        bar = bars[-1]
        prev_open = self._kline_open.get(key)
        symbol = st.spec.symbol
        if prev_open is not None and prev_open < bar[0]:
            closed = query(base, sn.interval, prev_open, prev_open, 1, now)
            if closed:
                self._deliver(key, symbol, _kline_builder(symbol, sn.interval, closed[0], True, now))
        self._kline_open[key] = bar[0]
        self._deliver(key, symbol, _kline_builder(symbol, sn.interval, bar, False, now))

    def _deliver(self, key: str, symbol: str, build: Callable[[int], bytes]) -> None:
        subs = self.subs.get(key)
        if not subs:
            return
        view = self.view
        if view.silent and view.is_silent(symbol):
            self.stats.ws_silenced += len(subs)
            return
        every = view.malformed_every(symbol) if view.malformed else 0
        cache: dict[tuple[int, bool], bytes] = {}
        for conn in subs:
            variant = (conn.unit, conn.combined)
            data = cache.get(variant)
            if data is None:
                payload = build(conn.unit)
                data = S.wrap(key, payload) if conn.combined else payload
                cache[variant] = data
            if len(conn.queue) >= self.cfg.max_queue:
                if not conn.closed:
                    self.stats.ws_slow_consumer_closes += 1
                    conn.abort()
                continue
            if every:
                self._sent_for_malformed += 1
                if self._sent_for_malformed % every == 0:
                    # A frame cut in half: invalid JSON, as a broken proxy or a bug on the wire would send.
                    conn.push(data[: len(data) // 2])
                    self.stats.ws_malformed_sent += 1
            conn.push(data)

    # fault actions -----------------------------------------------------------------------------------
    async def drop_all(self, fault: Fault) -> None:
        """ws_disconnect: abort (or close with `close_code`) every live connection."""
        await asyncio.gather(*(self.drop(conn, fault) for conn in list(self.conns)))

    async def drop(self, conn: Conn, fault: Fault) -> None:
        """Drop one connection the way a ws_disconnect fault says."""
        if fault.params["mode"] == "close":
            await _close(conn, int(fault.params["close_code"]), b"ws_disconnect fault")
        else:
            conn.abort()

    def abort_all(self) -> None:
        """Abort every connection (outage)."""
        for conn in list(self.conns):
            conn.abort()

    async def close_all(self) -> None:
        """Close every connection normally (shutdown)."""
        await asyncio.gather(*(_close(conn, 1001, b"server shutdown") for conn in list(self.conns)))


async def _close(conn: Conn, code: int, reason: bytes) -> None:
    """Send a close frame; a client that does not answer within CLOSE_WAIT_S is aborted."""
    conn.closed = True
    conn.wake.set()
    try:
        await asyncio.wait_for(conn.ws.close(code=code, message=reason), CLOSE_WAIT_S)
    except (TimeoutError, ConnectionResetError, RuntimeError):
        conn.abort()


def _nth_fill(fill: Callable[[int, int], bytes], i: int, unit: int) -> bytes:
    return fill(unit, i)


def _constant(payload: bytes) -> Callable[[int], bytes]:
    """A builder for payloads without time fields (the same bytes in either time unit)."""
    return lambda unit: payload


def _kline_builder(symbol: str, interval: str, bar: list[int], closed: bool, now: int) -> Callable[[int], bytes]:
    def build(unit: int) -> bytes:
        return orjson.dumps(
            {"e": "kline", "E": now * unit, "s": symbol, "k": ws_kline(bar, symbol, interval, closed, unit)}
        )

    return build
