"""Local order books kept by clients nobody here wrote, unmodified, against the simulator's diff-depth stream.

ccxt.pro's `watch_order_book` and python-binance's `DepthCacheManager` each follow Binance's local-book
procedure (buffer `@depth@100ms`, fetch `/api/v3/depth`, check `U`/`u`); a raw websockets client checks
`U`/`u` on every message. Each book is compared, at its own update id, with the simulator's `@bookTicker`
of that id (every book change is one id and pushes one bookTicker, so the id identifies the instant).

Duration: WATCH_S = 12 s of wall clock at speed 5, i.e. a minute of market time (the issue's minute) and
several hundred diff events with several update ids each, while keeping CI short. A sequencing bug shows
within seconds: the clients refetch the snapshot (counted by /sim/stats) or raise, and a wrong level
breaks the equality with the bookTicker at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator

import ccxt.pro as ccxtpro
import pytest
import websockets
from binance import AsyncClient
from binance.ws.depthcache import DepthCacheManager
from binance.ws.streams import BinanceSocketManager

from minibot.sim.runner import SimConfig, SimulatorThread

from .conftest import ccxt_options, run

pytestmark = pytest.mark.process

WATCH_S = 12.0
WARMUP_S = 2.0
SPEED = 5.0


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    """A fresh synthetic market per test, so REST request counts belong to one client."""
    with SimulatorThread(SimConfig(symbols=["BTCUSDT", "ETHUSDT"], speed=SPEED, seed=11)) as running:
        yield running


class Reference:
    """The simulator's own view, by update id: every `@bookTicker`, and the `@depth20@100ms` snapshots."""

    def __init__(self) -> None:
        self.tickers: dict[int, tuple[list[float], list[float]]] = {}
        self.depth20: dict[int, tuple[list[list[float]], list[list[float]]]] = {}
        self.counts = [0, 0, 0]  # client books checked, of them compared with bookTicker, with depth20

    async def record(self, ws_base: str, symbol: str) -> None:
        """Record until cancelled."""
        url = f"{ws_base}/stream?streams={symbol}@bookTicker/{symbol}@depth20@100ms"
        async with websockets.connect(url, open_timeout=10) as ws:
            while True:
                msg = json.loads(await ws.recv())
                d = msg["data"]
                if msg["stream"].endswith("@bookTicker"):
                    self.tickers[d["u"]] = ([float(d["b"]), float(d["B"])], [float(d["a"]), float(d["A"])])
                else:
                    self.depth20[d["lastUpdateId"]] = (_floats(d["bids"]), _floats(d["asks"]))

    def check(self, update_id: int, bids: list[list[float]], asks: list[list[float]]) -> None:
        """Compare a client's book at `update_id` with what was recorded for that id, and count it."""
        top = self.tickers.get(update_id)
        if top is not None:
            assert (bids[0], asks[0]) == top, (update_id, bids[0], asks[0], top)
        levels = self.depth20.get(update_id)
        if levels is not None:
            assert (bids[:20], asks[:20]) == levels, update_id
        self.counts[0] += 1
        self.counts[1] += top is not None
        self.counts[2] += levels is not None

    def assert_mostly_compared(self) -> int:
        """Many books checked, most of them at an id the reference also has; the number checked."""
        updates, with_ticker, with_depth = self.counts
        assert updates > 100 and with_ticker > 0.9 * updates and with_depth > 0.5 * updates, self.counts
        return updates


def _floats(levels: list[list[str]]) -> list[list[float]]:
    return [[float(p), float(q)] for p, q in levels]


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_ccxt_pro_watch_order_book_matches_book_ticker(sim: SimulatorThread) -> None:
    base = sim.base_url
    ref = Reference()

    async def body() -> None:
        ex = ccxtpro.binance(ccxt_options(base))
        ex.urls["api"]["ws"]["spot"] = sim.ws_base_url + "/ws"
        recorder = asyncio.create_task(ref.record(sim.ws_base_url, "btcusdt"))
        try:
            deadline = time.monotonic() + WATCH_S
            while time.monotonic() < deadline:
                book = await ex.watch_order_book("BTC/USDT")
                ref.check(book["nonce"], book["bids"], book["asks"])
                bids, asks = [p for p, _ in book["bids"]], [p for p, _ in book["asks"]]
                assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
        finally:
            await _stop(recorder)
            await ex.close()

    run(body, WATCH_S + 30)
    updates = ref.assert_mostly_compared()
    stats = sim.stats()
    # One snapshot for the whole watch: ccxt never found U/u out of step and never resynchronised.
    assert stats["requests"]["/api/v3/depth"] == 1, stats["requests"]
    assert stats["ws"]["served"]["btcusdt@depth@100ms"] >= updates
    assert stats["violations_total"] == 0


def test_python_binance_depth_cache_matches_book_ticker(sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
    # The documented way to point python-binance elsewhere: its class attributes (reference §7.2).
    monkeypatch.setattr(AsyncClient, "API_URL", sim.base_url + "/api")
    monkeypatch.setattr(BinanceSocketManager, "STREAM_URL", sim.ws_base_url + "/")
    ref = Reference()
    fetched_after_warmup: list[int] = []

    async def body() -> None:
        client = await AsyncClient.create()
        recorder = asyncio.create_task(ref.record(sim.ws_base_url, "ethusdt"))
        try:
            manager = DepthCacheManager(client, "ETHUSDT", refresh_interval=None, limit=1000, ws_interval=100)
            async with manager as cache_socket:
                start = time.monotonic()
                while time.monotonic() < start + WATCH_S:
                    cache = await cache_socket.recv()
                    if time.monotonic() < start + WARMUP_S:
                        continue
                    if not fetched_after_warmup:
                        fetched_after_warmup.append(sim.stats()["requests"]["/api/v3/depth"])
                    # The manager's own record of the last update id it applied.
                    bids = [list(b) for b in cache.get_bids()]
                    asks = [list(a) for a in cache.get_asks()]
                    ref.check(manager._last_update_id, bids, asks)
        finally:
            await _stop(recorder)
            await client.close_connection()

    run(body, WATCH_S + 30)
    ref.assert_mostly_compared()
    stats = sim.stats()
    # python-binance refetches the snapshot whenever U != previous u + 1, so after its start-up (it fetches
    # the snapshot before subscribing, and resyncs when the snapshot falls inside an event: its own
    # strictness, the same on Binance) the count must not move.
    assert stats["requests"]["/api/v3/depth"] == fetched_after_warmup[0] <= 3, stats["requests"]
    assert stats["violations_total"] == 0
