"""WebSocket market streams: `/ws/<stream>[/<stream>...]` (raw payloads) and `/stream?streams=a/b`
(combined `{"stream","data"}` envelopes), live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS /
SET_PROPERTY / GET_PROPERTY, server pings, and Binance's incoming-message limit.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from minibot.sim.conn import Conn
from minibot.sim.hub import Hub

_ID_STRING = re.compile(r"^[A-Za-z0-9-]{1,36}$")
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_INT64 = 2**63


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
