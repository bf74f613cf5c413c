"""The aiohttp application: one dispatcher for every HTTP path (stats, violations, weights, faults, the
REST endpoints) and the WebSocket routes `/ws[/...]` and `/stream`."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from minibot.sim.context import SimContext
from minibot.sim.errors import (
    MSG_BAD_KEY_FMT,
    MSG_BANNED,
    MSG_BUSY,
    MSG_REJECTED_KEY,
    MSG_TIMEOUT,
    MSG_TOO_MUCH_WEIGHT,
    MSG_UNKNOWN,
    BinanceError,
    error_response,
    json_response,
)
from minibot.sim.rest import ROUTES, Params
from minibot.sim.weights import request_weight
from minibot.sim.ws import ws_handler

CTX = web.AppKey("sim_context", SimContext)
# Order and account endpoints (TRADE / USER_DATA / USER_STREAM): NORE must never call them.
PRIVATE_PATHS = (
    "/api/v3/order",
    "/api/v3/openOrders",
    "/api/v3/allOrders",
    "/api/v3/account",
    "/api/v3/myTrades",
    "/api/v3/orderList",
    "/api/v3/allOrderList",
    "/api/v3/openOrderList",
    "/api/v3/sor/order",
    "/api/v3/rateLimit/order",
    "/api/v3/myPreventedMatches",
    "/api/v3/myAllocations",
    "/api/v3/myFilters",
    "/api/v3/userDataStream",
    "/sapi/",
    "/wapi/",
    "/fapi/v1/order",
    "/fapi/v2/account",
    "/papi/",
)
_5XX = {500: (-1000, MSG_UNKNOWN), 502: (-1000, MSG_UNKNOWN), 503: (-1008, MSG_BUSY), 504: (-1007, MSG_TIMEOUT)}
_MAX_BODY = 1 << 16


def is_private(path: str) -> bool:
    """Whether `path` is an order, account or user-stream endpoint."""
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in PRIVATE_PATHS)


async def _signed(request: web.Request) -> bool:
    if "signature" in request.query:
        return True
    if request.can_read_body:
        body = (await request.content.read(_MAX_BODY)).decode("utf-8", "replace")
        return "signature" in parse_qs(body) or '"signature"' in body
    return False


def _weight_headers(used: int) -> dict[str, str]:
    return {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Every HTTP request that is not a WebSocket upgrade."""
    ctx = request.app[CTX]
    path = request.path
    ctx.stats.requests[path] += 1
    if path.startswith("/sim/"):
        return _sim_endpoint(ctx, path)
    ip = request.remote or "?"
    now = ctx.now()
    if is_private(path) or await _signed(request):
        resp = _violation(ctx, request, path, now, ip)
    else:
        resp = await _public(ctx, request, path, now, ip)
    ctx.stats.statuses[str(resp.status)] += 1
    return resp


def _violation(ctx: SimContext, request: web.Request, path: str, now: int, ip: str) -> web.Response:
    """Record a forbidden request and answer it as Binance answers an unauthorised one (401)."""
    key = request.headers.get("X-MBX-APIKEY", "")
    ctx.stats.record_violation(
        {
            "ts": now,
            "wall_ts": int(time.time() * 1000),
            "method": request.method,
            "path": path,
            "query": request.query_string[:500],
            "api_key_sent": bool(key),
            "remote": ip,
            "signed": "signature" in request.query,
        }
    )
    verdict = ctx.limiter.charge(ip, 1, now)
    ctx.stats.weight_total += 1
    err = BinanceError(401, -2015, MSG_REJECTED_KEY) if key else BinanceError(401, -2014, MSG_BAD_KEY_FMT)
    return error_response(err, _weight_headers(verdict.used))


async def _public(ctx: SimContext, request: web.Request, path: str, now: int, ip: str) -> web.Response:
    handler = ROUTES.get(path)
    weight = request_weight(path, request.query) if handler is not None else 1
    verdict = ctx.limiter.charge(ip, weight, now)
    ctx.stats.weight_total += weight
    headers = _weight_headers(verdict.used)
    if verdict.status == 418:
        until = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(verdict.ban_until_ms / 1000))
        err = BinanceError(418, -1003, MSG_BANNED.format(until=until))
        return error_response(err, {**headers, "Retry-After": str(verdict.retry_after_s)})
    if verdict.status == 429:
        err = BinanceError(429, -1003, MSG_TOO_MUCH_WEIGHT.format(limit=ctx.limiter.limit))
        return error_response(err, {**headers, "Retry-After": str(verdict.retry_after_s)})
    fault = ctx.faults.rest(path)
    if fault.delay_s > 0:
        await asyncio.sleep(fault.delay_s)
    if fault.status in _5XX:
        code, msg = _5XX[fault.status]
        return error_response(BinanceError(fault.status, code, msg), headers)
    if fault.status in (429, 418):
        msg = (
            MSG_TOO_MUCH_WEIGHT.format(limit=ctx.limiter.limit)
            if fault.status == 429
            else MSG_BANNED.format(until="(injected fault)")
        )
        return error_response(
            BinanceError(fault.status, -1003, msg), {**headers, "Retry-After": str(fault.retry_after_s)}
        )
    if handler is None:
        return error_response(BinanceError(404, -1000, f"Unknown endpoint {path}."), headers)
    if request.method not in ("GET", "HEAD"):
        return error_response(BinanceError(405, -1000, f"Method {request.method} not allowed on {path}."), headers)
    try:
        params = Params(request)
        ctx.sync()
        body = handler(ctx, params)
    except BinanceError as err:
        return error_response(err, headers)
    return json_response(body, 200, headers)


def _sim_endpoint(ctx: SimContext, path: str) -> web.Response:
    if path == "/sim/stats":
        return json_response(stats_document(ctx))
    if path == "/sim/info":
        return json_response(info_document(ctx))
    return json_response({"error": f"unknown simulator endpoint {path}"}, 404)


def stats_document(ctx: SimContext) -> dict[str, Any]:
    """The /sim/stats document."""
    now = ctx.now()
    return ctx.stats.snapshot(
        {
            "now_ms": now,
            "start_ms": ctx.clock.start_ms,
            "speed": ctx.clock.speed,
            "elapsed_ms": now - ctx.clock.start_ms,
            "weight_used_1m": ctx.limiter.used("127.0.0.1", now),
            "weight_limit_1m": ctx.limiter.limit,
            "faults_active": [f.kind for f in ctx.faults.active()],
            "outage": ctx.faults.outage,
        }
    )


def info_document(ctx: SimContext) -> dict[str, Any]:
    """The /sim/info document: symbols, data sources and their time shifts, scenario."""
    return {
        "start_ms": ctx.clock.start_ms,
        "speed": ctx.clock.speed,
        "seed": ctx.seed,
        "symbols": list(ctx.market.states),
        "synthetic": ctx.market.info.get("synthetic", []),
        "replay": ctx.market.info.get("replay", []),
        "replay_progress": [feed.describe() for feed in ctx.market.replay_feeds],
        "scenario": {
            "name": ctx.scenario.name,
            "faults": [
                {
                    "kind": f.kind,
                    "at_ms": f.at_ms,
                    "duration_ms": f.duration_ms,
                    "every_ms": f.every_ms,
                    "count": f.count,
                    **f.params,
                }
                for f in ctx.scenario.faults
            ],
        },
    }


def build_app(ctx: SimContext) -> web.Application:
    """The aiohttp application serving REST and WebSocket on one port."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[CTX] = ctx

    async def ws(request: web.Request) -> web.StreamResponse:
        return await ws_handler(request, ctx.hub)

    app.router.add_get("/ws", ws)
    app.router.add_get("/ws/{tail:.*}", ws)
    app.router.add_get("/stream", ws)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
