"""Binance public REST client: GET only, allow-listed public paths only (reference §2, §5).

There is no request-signing code in this project and no way to reach an order or account path through
this client: `_get` is the single place a request is made, it refuses any path outside `PUBLIC_PATHS`
and any parameter a signed request would carry, sends no API-key header and follows no redirects.
Every request, including refused and failed ones, lands in `request_log` (and the `on_request` hook), so
a run can later prove that no order request was ever sent. `request_log` keeps the newest `log_size`
records (~240 bytes each); a role that journals every record through the hook keeps only
`JOURNALED_LOG_SIZE` of them: 10,000 took ~2.4 MB in each of market_role and health_role, filled over the
first hours of a night (issue 14, item 4), for records the journal already holds. `requests_sent` counts them
all.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from minibot.clock import RunClock
from minibot.market.errors import Banned, ForbiddenRequest, HttpError, RateLimited, TransportError
from minibot.market.models import AggTrade, BookTicker, MalformedMessage, parse_agg_trade, parse_book_ticker
from minibot.market.weights import USED_WEIGHT_HEADER, WeightTracker

# NORE talks to Binance (and to the loopback simulator) directly and never through a proxy: it measures
# Binance's own latency and health (R-T4), which a proxy in between would change, and a stale system proxy
# (one left by a debugging tool or a VPN client) must not be able to break a night. So aiohttp's trust_env
# stays off: HTTP_PROXY / HTTPS_PROXY / ALL_PROXY and the Windows proxy settings are not read.
DIRECT = False


def _depth_weight(params: Mapping[str, str]) -> int:
    limit = int(params.get("limit", "100"))
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _one_or_many(params: Mapping[str, str]) -> int:
    return 2 if "symbol" in params else 4


# The allow-list: path -> request weight (reference §2.1). Nothing else can be requested.
PUBLIC_PATHS: dict[str, Callable[[Mapping[str, str]], int]] = {
    "/api/v3/ping": lambda _p: 1,
    "/api/v3/time": lambda _p: 1,
    "/api/v3/exchangeInfo": lambda _p: 20,
    "/api/v3/depth": _depth_weight,
    "/api/v3/aggTrades": lambda _p: 4,
    "/api/v3/klines": lambda _p: 2,
    "/api/v3/ticker/bookTicker": _one_or_many,
    "/api/v3/ticker/price": _one_or_many,
}
# Parameters only a signed (account / trading) request carries; refusing them keeps this client public.
FORBIDDEN_PARAMS = frozenset({"signature", "timestamp", "recvWindow", "apiKey"})


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One REST request as sent (or refused): what `nore verify` reads to prove no order was sent."""

    ts: int  # run-clock ms when the request started
    method: str
    path: str
    query: str
    status: int | None  # None: no HTTP answer (transport error) or refused locally
    latency_ms: float  # wall-clock round trip, a real duration even under --speed
    used_weight: int | None  # X-MBX-USED-WEIGHT-1M of the answer
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for journaling."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Depth:
    """Order-book snapshot (`/api/v3/depth`)."""

    last_update_id: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Kline:
    """One kline (`/api/v3/klines`), identified by its open time."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    trades: int


LOG_SIZE = 10_000  # records kept in memory by default
JOURNALED_LOG_SIZE = 100  # in memory when `on_request` journals every record (the journal is the proof)


class BinanceRest:
    """Async client for the public market-data endpoints of one Binance base URL."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        weight_limit: int = 6000,
        clock: RunClock | None = None,
        on_request: Callable[[RequestRecord], None] | None = None,
        log_size: int = LOG_SIZE,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"base_url must be scheme://host[:port] with no path, got {base_url!r}")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(f"base_url must not carry a query, fragment or credentials: {base_url!r}")
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.clock = clock if clock is not None else RunClock.start_now()
        self.timeout_s = timeout_s
        self.weights = WeightTracker(self.clock, weight_limit)
        self.request_log: deque[RequestRecord] = deque(maxlen=log_size)
        self.requests_sent = 0
        self.on_request = on_request
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> BinanceRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _record(self, record: RequestRecord) -> None:
        self.requests_sent += 1
        self.request_log.append(record)
        if self.on_request is not None:
            self.on_request(record)

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The only request primitive: GET an allow-listed public path; returns the decoded JSON."""
        params = dict(params or {})
        query = "&".join(f"{k}={v}" for k, v in params.items())
        weight_of = PUBLIC_PATHS.get(path)
        bad = FORBIDDEN_PARAMS.intersection(params)
        if weight_of is None or bad:
            why = f"path {path!r} is not public market data" if weight_of is None else f"params {sorted(bad)}"
            self._record(RequestRecord(self.clock.now_ms(), "GET", path, query, None, 0.0, None, "refused"))
            raise ForbiddenRequest(f"refused before sending: {why}")
        try:
            await self.weights.acquire(weight_of(params))
        except Banned as exc:
            self._record(RequestRecord(self.clock.now_ms(), "GET", path, query, None, 0.0, None, "banned"))
            raise exc
        if self._session is None:
            # No API key header, no cookies kept between calls: nothing identifies an account. No proxy
            # (trust_env=False: HTTP(S)_PROXY and the Windows proxy settings are ignored, see DIRECT below).
            self._session = aiohttp.ClientSession(
                headers={"Accept": "application/json"}, cookie_jar=aiohttp.DummyCookieJar(), trust_env=DIRECT
            )
        ts = self.clock.now_ms()
        # Transport timeouts are wall-clock: a network round trip does not speed up with --speed.
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        started = time.perf_counter()
        try:
            async with self._session.get(
                self.base_url + path, params=params, timeout=timeout, allow_redirects=False
            ) as resp:
                status = resp.status
                headers = resp.headers
                text = await resp.text(errors="replace")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            latency = (time.perf_counter() - started) * 1000.0
            detail = f"{type(exc).__name__}: {exc}".strip()
            self._record(RequestRecord(ts, "GET", path, query, None, latency, None, detail))
            raise TransportError(f"GET {path}: {detail}") from exc
        latency = (time.perf_counter() - started) * 1000.0
        self.weights.observe(status, headers, text)
        used = headers.get(USED_WEIGHT_HEADER)
        used_weight = int(used) if used is not None and used.isdigit() else None
        error = None if status == 200 else text[:200]
        self._record(RequestRecord(ts, "GET", path, query, status, latency, used_weight, error))
        if status != 200:
            raise self._http_error(path, status, text)
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise HttpError(f"GET {path}: 200 with a body that is not JSON", status) from exc

    def _http_error(self, path: str, status: int, text: str) -> Exception:
        code: int | None = None
        msg = text[:200]
        try:
            body = orjson.loads(text)
            if isinstance(body, dict) and isinstance(body.get("code"), int):
                code = body["code"]
                msg = str(body.get("msg", ""))
        except orjson.JSONDecodeError:
            pass
        detail = f"GET {path}: HTTP {status} code={code} {msg}"
        if status == 418:
            return Banned(detail, self.weights.banned_until_ms)
        if status == 429:
            wait_s = self.clock.real_seconds(self.weights.retry_until_ms - self.clock.now_ms())
            return RateLimited(detail, status, code, max(0.0, wait_s))
        return HttpError(detail, status, code)

    # Typed endpoints ---------------------------------------------------------------------------------

    async def ping(self) -> None:
        """GET /api/v3/ping (weight 1)."""
        body = await self._get("/api/v3/ping")
        if body != {}:
            raise HttpError("GET /api/v3/ping: expected {}", 200)

    async def time(self) -> int:
        """GET /api/v3/time (weight 1) -> serverTime in ms."""
        body = await self._get("/api/v3/time")
        server = body.get("serverTime") if isinstance(body, dict) else None
        if not isinstance(server, int) or isinstance(server, bool):
            raise HttpError("GET /api/v3/time: no integer serverTime", 200)
        return server

    async def exchange_info(self, symbols: Sequence[str] | None = None) -> dict[str, Any]:
        """GET /api/v3/exchangeInfo (weight 20), optionally for `symbols` only."""
        params = {"symbols": _json_list(symbols)} if symbols else {}
        body = await self._get("/api/v3/exchangeInfo", params)
        if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
            raise HttpError("GET /api/v3/exchangeInfo: no symbols list", 200)
        return body

    async def book_ticker(self, symbols: str | Sequence[str]) -> list[BookTicker]:
        """GET /api/v3/ticker/bookTicker for one symbol or a list -> best bid/ask per symbol."""
        body = await self._get("/api/v3/ticker/bookTicker", _symbol_params(symbols))
        items = body if isinstance(body, list) else [body]
        try:
            return [parse_book_ticker(item, source="rest") for item in items]
        except (MalformedMessage, AttributeError) as exc:
            raise HttpError(f"GET /api/v3/ticker/bookTicker: {exc}", 200) from exc

    async def ticker_price(self, symbols: str | Sequence[str]) -> dict[str, float]:
        """GET /api/v3/ticker/price for one symbol or a list -> {symbol: last price}."""
        body = await self._get("/api/v3/ticker/price", _symbol_params(symbols))
        items = body if isinstance(body, list) else [body]
        try:
            return {str(item["symbol"]): _positive(item["price"]) for item in items}
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise HttpError(f"GET /api/v3/ticker/price: {exc}", 200) from exc

    async def depth(self, symbol: str, limit: int = 100) -> Depth:
        """GET /api/v3/depth (weight by limit) -> order-book snapshot."""
        body = await self._get("/api/v3/depth", {"symbol": symbol, "limit": str(limit)})
        try:
            return Depth(
                last_update_id=int(body["lastUpdateId"]),
                bids=[(_positive(p), float(q)) for p, q in body["bids"]],
                asks=[(_positive(p), float(q)) for p, q in body["asks"]],
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise HttpError(f"GET /api/v3/depth: {exc}", 200) from exc

    async def agg_trades(
        self,
        symbol: str,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[AggTrade]:
        """GET /api/v3/aggTrades (weight 4): from `from_id` (inclusive) or a time window, oldest first."""
        params = {"symbol": symbol, "limit": str(limit)}
        if from_id is not None:
            params["fromId"] = str(from_id)
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        body = await self._get("/api/v3/aggTrades", params)
        if not isinstance(body, list):
            raise HttpError("GET /api/v3/aggTrades: not a list", 200)
        try:
            return [parse_agg_trade(item, symbol=symbol, source="rest") for item in body]
        except (MalformedMessage, AttributeError) as exc:
            raise HttpError(f"GET /api/v3/aggTrades: {exc}", 200) from exc

    async def klines(
        self,
        symbol: str,
        interval: str = "1m",
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """GET /api/v3/klines (weight 2), oldest first."""
        params = {"symbol": symbol, "interval": interval, "limit": str(limit)}
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        body = await self._get("/api/v3/klines", params)
        try:
            return [
                Kline(
                    int(k[0]),
                    _positive(k[1]),
                    _positive(k[2]),
                    _positive(k[3]),
                    _positive(k[4]),
                    float(k[5]),
                    int(k[6]),
                    int(k[8]),
                )
                for k in body
            ]
        except (IndexError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise HttpError(f"GET /api/v3/klines: {exc}", 200) from exc


def _json_list(symbols: Sequence[str]) -> str:
    return orjson.dumps(list(symbols)).decode()


def _symbol_params(symbols: str | Sequence[str]) -> dict[str, str]:
    return {"symbol": symbols} if isinstance(symbols, str) else {"symbols": _json_list(symbols)}


def _positive(raw: Any) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"not a positive finite number: {raw!r}")
    return value
