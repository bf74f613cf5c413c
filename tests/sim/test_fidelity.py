"""Clients nobody here wrote, unmodified, against the simulator: ccxt, python-binance, websockets.

Each only has its base URL pointed at 127.0.0.1 and must accept every answer as real Binance's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import ccxt
import pytest
import websockets
from binance.client import Client
from binance.exceptions import BinanceAPIException

from minibot.sim.runner import SimConfig, SimulatorThread

from .conftest import ccxt_options

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    """A synthetic market at speed 5 for the third-party clients."""
    with SimulatorThread(SimConfig(symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"], speed=5.0, seed=2024)) as running:
        yield running


def _ccxt(base: str) -> Any:
    return ccxt.binance(ccxt_options(base))


def test_ccxt_markets_time_ticker_book_ohlcv(sim: SimulatorThread) -> None:
    ex = _ccxt(sim.base_url)
    markets = ex.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= set(markets)
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["active"] and btc["id"] == "BTCUSDT"
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5.0 and btc["limits"]["amount"]["min"] == 0.00001

    server = ex.fetch_time()
    assert abs(server - sim.running.ctx.clock.now_ms()) < 5000

    ticker = ex.fetch_ticker("BTC/USDT")
    assert 0 < ticker["bid"] < ticker["ask"] and ticker["last"] > 0
    assert ticker["low"] <= ticker["last"] <= ticker["high"] and ticker["baseVolume"] > 0
    assert 20_000 < ticker["last"] < 200_000

    book = ex.fetch_order_book("ETH/USDT", 5)
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] < book["asks"][0][0]
    assert [b[0] for b in book["bids"]] == sorted((b[0] for b in book["bids"]), reverse=True)
    assert isinstance(book["nonce"], int)

    ohlcv = ex.fetch_ohlcv("BTC/USDT", "1m", limit=10)
    assert len(ohlcv) == 10
    assert all(b[0] - a[0] == 60_000 for a, b in itertools.pairwise(ohlcv))
    assert all(low <= min(o, c) and high >= max(o, c) and v >= 0 for _, o, high, low, c, v in ohlcv)
    since = ohlcv[0][0]
    assert ex.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=3)[0][0] == since

    trades = ex.fetch_trades("SOL/USDT", limit=20)
    assert len(trades) == 20 and all(t["price"] > 0 and t["amount"] > 0 for t in trades)
    assert sim.stats()["violations_total"] == 0


def test_python_binance_ping_time_info_book_klines(sim: SimulatorThread) -> None:
    client = Client(ping=False)
    client.API_URL = sim.base_url + "/api"
    assert client.ping() == {}
    server = client.get_server_time()["serverTime"]
    assert abs(server - sim.running.ctx.clock.now_ms()) < 5000
    info = client.get_exchange_info()
    assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    sol = client.get_symbol_info("SOLUSDT")
    assert sol is not None and sol["baseAsset"] == "SOL"
    tick = next(f["tickSize"] for f in sol["filters"] if f["filterType"] == "PRICE_FILTER")
    assert tick == "0.01000000"
    book = client.get_order_book(symbol="BTCUSDT", limit=10)
    assert len(book["bids"]) == 10 and float(book["bids"][0][0]) < float(book["asks"][0][0])
    klines = client.get_klines(symbol="ETHUSDT", interval=Client.KLINE_INTERVAL_1MINUTE, limit=5)
    assert len(klines) == 5 and all(k[6] == k[0] + 59_999 for k in klines)
    assert 500 < float(klines[-1][4]) < 20_000
    start = klines[0][0]
    hist = client.get_historical_klines("ETHUSDT", Client.KLINE_INTERVAL_1MINUTE, start_str=start)
    assert hist[0][0] == start and len(hist) >= 5
    with pytest.raises(BinanceAPIException) as err:
        client.get_symbol_ticker(symbol="NOPEUSDT")
    assert err.value.code == -1121 and err.value.status_code == 400
    assert sim.stats()["violations_total"] == 0


def test_python_binance_order_attempt_is_refused_and_recorded(sim: SimulatorThread) -> None:
    before = sim.stats()["violations_total"]
    client = Client("not-a-real-key", "not-a-real-secret", ping=False)
    client.API_URL = sim.base_url + "/api"
    with pytest.raises(BinanceAPIException) as err:
        client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity=0.001)
    assert err.value.code == -2015 and err.value.status_code == 401
    stats = sim.stats()
    assert stats["violations_total"] == before + 1
    last = stats["violations"][-1]
    assert last["path"] == "/api/v3/order/test" and last["method"] == "POST" and last["api_key_sent"]


def test_websockets_combined_book_ticker_and_agg_trades(sim: SimulatorThread) -> None:
    url = sim.ws_base_url + "/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker/btcusdt@aggTrade/ethusdt@aggTrade"

    async def collect() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async with websockets.connect(url, open_timeout=10) as ws:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                out.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
                kinds = {m["stream"] for m in out}
                aggs = sum(m["stream"].endswith("@aggTrade") for m in out)
                if len(kinds) == 4 and aggs >= 40:
                    break
        return out

    messages = asyncio.run(collect())
    assert {m["stream"] for m in messages} == {
        "btcusdt@bookTicker",
        "ethusdt@bookTicker",
        "btcusdt@aggTrade",
        "ethusdt@aggTrade",
    }
    for m in messages:
        data = m["data"]
        if m["stream"].endswith("@bookTicker"):
            assert set(data) == {"u", "s", "b", "B", "a", "A"}
            assert 0 < float(data["b"]) < float(data["a"]) and float(data["B"]) > 0
        else:
            assert data["e"] == "aggTrade" and data["s"] == m["stream"].split("@")[0].upper()
            assert float(data["p"]) > 0 and float(data["q"]) > 0 and data["l"] >= data["f"]
    for sym in ("btcusdt", "ethusdt"):
        ids = [m["data"]["a"] for m in messages if m["stream"] == f"{sym}@aggTrade"]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        ups = [m["data"]["u"] for m in messages if m["stream"] == f"{sym}@bookTicker"]
        assert ups == sorted(ups) and len(set(ups)) == len(ups)
