"""Fuzz: WS frames and REST bodies fed to the market client's own parsing (minibot/market).

A WS frame ends as data, control, server_shutdown or malformed (counted, reported as a stream status);
a REST body ends as a parsed value or a MarketError (a NoreError with a reason code); never another
exception. The REST bodies really travel over HTTP from a server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from minibot.clock import RunClock
from minibot.market.errors import MarketError
from minibot.market.models import MarketMessage
from minibot.market.rest import BinanceRest
from minibot.market.ws import StreamClient
from tests.fuzz.cases import CASES, FUZZ, mutated

BOOK = {"u": 400900217, "s": "BTCUSDT", "b": "61234.40", "B": "1.2", "a": "61234.60", "A": "0.8"}
AGG = {"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 7, "p": "61234.5", "q": "0.01", "f": 1, "l": 2, "T": 1, "m": True}
FRAMES = [
    {"stream": "btcusdt@bookTicker", "data": BOOK},
    {"stream": "btcusdt@aggTrade", "data": AGG},
    {"stream": "btcusdt@trade", "data": {**AGG, "e": "trade", "t": 9}},
    {"id": 1, "result": None},
]
REST_BODIES: dict[str, Any] = {
    "time": {"serverTime": 1723161255342},
    "ping": {},
    "exchange_info": {"symbols": [{"symbol": "BTCUSDT", "filters": []}]},
    "book_ticker": [{"symbol": "BTCUSDT", "bidPrice": "1.5", "bidQty": "2", "askPrice": "1.6", "askQty": "3"}],
    "ticker_price": [{"symbol": "BTCUSDT", "price": "61234.5"}],
    "depth": {"lastUpdateId": 5, "bids": [["1.5", "2"]], "asks": [["1.6", "3"]]},
    "agg_trades": [{"a": 7, "p": "61234.5", "q": "0.01", "f": 1, "l": 2, "T": 1, "m": True, "M": True}],
    "klines": [[1, "1.0", "2.0", "0.5", "1.5", "10", 2, "15", 3, "5", "7", "0"]],
}
CALLS = {
    "time": lambda c: c.time(),
    "ping": lambda c: c.ping(),
    "exchange_info": lambda c: c.exchange_info(["BTCUSDT"]),
    "book_ticker": lambda c: c.book_ticker(["BTCUSDT"]),
    "ticker_price": lambda c: c.ticker_price(["BTCUSDT"]),
    "depth": lambda c: c.depth("BTCUSDT", 5),
    "agg_trades": lambda c: c.agg_trades("BTCUSDT", from_id=1),
    "klines": lambda c: c.klines("BTCUSDT"),
}


async def _ignore(_message: MarketMessage) -> None:
    return None


def _text(doc: Any) -> str | None:
    try:
        return json.dumps(doc).encode("utf-8").decode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return None


@FUZZ
@given(st.sampled_from(FRAMES).flatmap(lambda frame: mutated(frame, max_mutations=3)))
def test_ws_frames(frame: Any) -> None:
    CASES["ws frame"] += 1
    text = _text(frame)
    if text is None:
        return
    client = StreamClient("ws://127.0.0.1:9", ["btcusdt@bookTicker"], RunClock.start_now(), _ignore)
    outcome = asyncio.run(client._handle_text(text))
    assert outcome in ("data", "control", "server_shutdown", "malformed")
    assert (outcome == "malformed") == (client.malformed == 1)


@FUZZ
@given(st.text(max_size=200))
def test_ws_frames_any_text(text: str) -> None:
    CASES["ws text"] += 1
    client = StreamClient("ws://127.0.0.1:9", ["btcusdt@bookTicker"], RunClock.start_now(), _ignore)
    assert asyncio.run(client._handle_text(text)) in ("control", "malformed")


class _Server:
    """An HTTP server on 127.0.0.1 answering every GET with the body and status set by the test."""

    def __init__(self) -> None:
        self.body = "{}"
        self.status = 200
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    async def _handle(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.body, status=self.status, content_type="application/json")

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = self.runner.addresses[0][1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server()
    srv.thread.start()
    assert srv.ready.wait(10)
    yield srv
    srv.stop()


async def _call(port: int, endpoint: str) -> None:
    async with BinanceRest(f"http://127.0.0.1:{port}", timeout_s=5.0) as client:
        try:
            await CALLS[endpoint](client)
        except MarketError as exc:
            assert exc.reason_code and exc.detail


@pytest.mark.process
@FUZZ
@given(
    st.sampled_from(sorted(REST_BODIES)).flatmap(
        lambda name: st.tuples(st.just(name), mutated(REST_BODIES[name], max_mutations=3))
    ),
    st.sampled_from([200, 200, 200, 400, 418, 429, 500, 503]),
)
def test_rest_bodies(server: _Server, case: tuple[str, Any], status: int) -> None:
    CASES["rest body"] += 1
    endpoint, body = case
    text = _text(body)
    if text is None:
        return
    server.body, server.status = text, status
    asyncio.run(_call(server.port, endpoint))
