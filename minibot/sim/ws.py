"""WebSocket market streams: `/ws/<stream>[/<stream>...]` (raw payloads) and `/stream?streams=a/b`
(combined `{"stream","data"}` envelopes), live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS /
SET_PROPERTY / GET_PROPERTY, server pings, and Binance's incoming-message limit.

The hub receives every market change once, serialises it once per (time unit, envelope) variant and
queues it on each subscribed connection; a writer task per connection drains its queue, so a slow
client never stalls the market or other clients (past `max_queue` messages it is disconnected).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from minibot.clock import RunClock
from minibot.sim import streams as S
from minibot.sim.bars import INTERVALS, query, ws_kline
from minibot.sim.faults import FaultController, StreamView
from minibot.sim.market import Market
from minibot.sim.scenario import Fault, WsSettings
from minibot.sim.state import Agg, SymbolState
from minibot.sim.stats import Stats

_ID_STRING = re.compile(r"^[A-Za-z0-9-]{1,36}$")
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_INT64 = 2**63
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


# --- the aiohttp handler -------------------------------------------------------------------------------
def _initial_streams(request: web.Request) -> tuple[bool, list[str]]:
    if request.path.startswith("/stream"):
        raw = request.query.get("streams", "")
        return True, [s for s in raw.split("/") if s]
    tail = request.path[len("/ws") :].strip("/")
    # ccxt opens /ws/<n>: segments that are not stream names mean "no stream yet".
    return False, [s for s in tail.split("/") if "@" in s]


def _time_unit(request: web.Request) -> int | None:
    raw = request.query.get("timeUnit")
    if raw is None or raw.upper() == "MILLISECOND":
        return 1
    if raw.upper() == "MICROSECOND":
        return 1000
    return None


async def ws_handler(request: web.Request, hub: Hub) -> web.StreamResponse:
    """Serve one WebSocket connection until it closes."""
    unit = _time_unit(request)
    if unit is None:
        raise web.HTTPBadRequest(text="Invalid value for time unit; expected either MICROSECOND or MILLISECOND.")
    combined, names = _initial_streams(request)
    ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
    await ws.prepare(request)
    stats = hub.stats
    stats.ws_connections_total += 1
    conn = Conn(ws, request, combined, unit, hub.clock.now_ms())
    blocking = hub.faults.ws_blocked()
    if blocking is not None:
        await hub.drop(conn, blocking)
        return ws
    stats.ws_connections_open += 1
    hub.conns.add(conn)
    hub.subscribe(conn, names)
    tasks = [asyncio.create_task(_writer(conn, hub)), asyncio.create_task(_pinger(conn, hub))]
    try:
        async for msg in ws:
            stats.ws_messages_received += 1
            if _over_incoming_limit(conn, hub.cfg.max_incoming_per_s):
                stats.ws_rate_limit_closes += 1
                await ws.close(code=1008, message=b"Too many messages")
                break
            if msg.type == WSMsgType.TEXT:
                reply = control(conn, hub, msg.data)
                conn.push(orjson.dumps(reply))
            elif msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                conn.last_pong = time.monotonic()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        conn.closed = True
        conn.wake.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        hub.remove(conn)
        stats.ws_connections_open -= 1
    return ws


def _over_incoming_limit(conn: Conn, limit: int) -> bool:
    """Binance allows 5 incoming messages per second (pings, pongs and control messages all count)."""
    if limit <= 0:
        return False
    second = int(time.monotonic())
    if second != conn.in_window:
        conn.in_window, conn.in_count = second, 0
    conn.in_count += 1
    return conn.in_count > limit


async def _writer(conn: Conn, hub: Hub) -> None:
    ws = conn.ws
    stats = hub.stats
    try:
        while not conn.closed:
            await conn.wake.wait()
            conn.wake.clear()
            delay = hub.view.latency_s
            if delay > 0:
                await asyncio.sleep(delay)
            while conn.queue and not conn.closed:
                await ws.send_frame(conn.queue.popleft(), WSMsgType.TEXT)
                stats.ws_messages_sent += 1
    except (ConnectionResetError, RuntimeError):
        conn.abort()


async def _pinger(conn: Conn, hub: Hub) -> None:
    cfg = hub.cfg
    next_ping = time.monotonic() + cfg.ping_interval_s
    while not conn.closed:
        await asyncio.sleep(min(0.5, cfg.ping_interval_s))
        now = time.monotonic()
        if now - conn.last_pong > cfg.pong_timeout_s:
            hub.stats.ws_pong_timeouts += 1
            await conn.ws.close(code=1008, message=b"Pong timeout")
            return
        if hub.clock.now_ms() - conn.opened_ms >= cfg.max_lifetime_ms:
            await conn.ws.close(code=1000, message=b"24h connection limit")
            return
        if now >= next_ping:
            next_ping = now + cfg.ping_interval_s
            try:
                await conn.ws.ping(str(hub.clock.now_ms()).encode())
            except (ConnectionResetError, RuntimeError):
                conn.abort()
                return


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, str) and bool(_ID_STRING.match(value))


def control(conn: Conn, hub: Hub, text: str) -> dict[str, Any]:
    """Answer one JSON control message the way Binance does."""
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as exc:
        return {"code": 3, "msg": f"Invalid JSON: expected value at line {exc.lineno} column {exc.colno}"}
    if not isinstance(msg, dict) or "method" not in msg:
        return {"code": 2, "msg": f"Invalid request: missing field `method` at line 1 column {len(text)}"}
    req_id = msg.get("id")
    if not _valid_id(req_id):
        return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
    method = msg["method"]
    if method not in _METHODS:
        return {
            "code": 2,
            "msg": f"Invalid request: unknown variant `{method}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
            "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 28",
            "id": req_id,
        }
    params = msg.get("params", [])
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return {"code": 2, "msg": "Invalid request: params must be a list of stream names", "id": req_id}
        if method == "SUBSCRIBE":
            hub.subscribe(conn, params)
        else:
            hub.unsubscribe(conn, params)
        return {"result": None, "id": req_id}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": list(conn.streams), "id": req_id}
    if not isinstance(params, list) or not params or not isinstance(params[0], str):
        return {"code": 2, "msg": "Invalid request: property name must be a string", "id": req_id}
    if params[0] != "combined":
        return {"code": 0, "msg": "Unknown property", "id": req_id}
    if method == "GET_PROPERTY":
        return {"result": conn.combined, "id": req_id}
    if len(params) != 2 or not isinstance(params[1], bool):
        return {"code": 1, "msg": "Invalid value type: expected Boolean", "id": req_id}
    conn.combined = params[1]
    return {"result": None, "id": req_id}
