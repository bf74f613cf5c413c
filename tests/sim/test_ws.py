"""WebSocket streams: raw and combined, live control messages, pings, limits, one market with REST."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from minibot.sim.runner import SimConfig, start_simulator

from .conftest import run

pytestmark = pytest.mark.process


async def _recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> Any:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def _until(ws: aiohttp.ClientWebSocketResponse, pred: Any, limit: int = 2000) -> Any:
    for _ in range(limit):
        data = await _recv_json(ws)
        if pred(data):
            return data
    raise AssertionError("expected message not received")


def test_raw_and_combined_streams_payloads() -> None:
    async def body() -> None:
        sim = await start_simulator(SimConfig(speed=10.0, seed=3))
        try:
            async with aiohttp.ClientSession() as http:
                async with http.ws_connect(sim.ws_base_url + "/ws/btcusdt@bookTicker") as ws:
                    bt = await _recv_json(ws)
                    assert set(bt) == {"u", "s", "b", "B", "a", "A"} and bt["s"] == "BTCUSDT"
                    assert float(bt["b"]) < float(bt["a"])
                streams = "btcusdt@aggTrade/ethusdt@trade/btcusdt@kline_1s/ethusdt@depth5@100ms"
                async with http.ws_connect(sim.ws_base_url + "/stream?streams=" + streams) as ws:
                    seen: dict[str, dict[str, Any]] = {}
                    for _ in range(3000):
                        env = await _recv_json(ws)
                        assert set(env) == {"stream", "data"}
                        seen.setdefault(env["stream"], env["data"])
                        if len(seen) == 4:
                            break
                    agg = seen["btcusdt@aggTrade"]
                    assert agg["e"] == "aggTrade" and set(agg) == {
                        "e",
                        "E",
                        "s",
                        "a",
                        "p",
                        "q",
                        "f",
                        "l",
                        "T",
                        "m",
                        "M",
                    }
                    assert agg["E"] >= agg["T"]
                    trade = seen["ethusdt@trade"]
                    assert trade["e"] == "trade" and isinstance(trade["t"], int) and trade["s"] == "ETHUSDT"
                    k = seen["btcusdt@kline_1s"]
                    assert k["e"] == "kline" and k["k"]["i"] == "1s" and k["k"]["T"] == k["k"]["t"] + 999
                    depth = seen["ethusdt@depth5@100ms"]
                    assert set(depth) == {"lastUpdateId", "bids", "asks"} and len(depth["bids"]) == 5
                async with http.ws_connect(sim.ws_base_url + "/ws/btcusdt@aggTrade?timeUnit=MICROSECOND") as ws:
                    agg = await _recv_json(ws)
                    assert agg["T"] > 10**15 and agg["E"] > 10**15
        finally:
            await sim.stop()

    run(body)


def test_live_subscribe_unsubscribe_list_and_properties() -> None:
    async def body() -> None:
        sim = await start_simulator(SimConfig(speed=10.0))
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_base_url + "/ws/0") as ws:
                await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1}))
                assert await _until(ws, lambda d: "id" in d) == {"result": None, "id": 1}
                data = await _recv_json(ws)
                assert data["s"] == "BTCUSDT"  # raw payload on /ws
                uid = "3f2a8c1e-1b2c-4d5e-8f90-123456789abc"
                await ws.send_str(json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": uid}))
                assert await _until(ws, lambda d: d.get("id") == uid) == {"result": None, "id": uid}
                env = await _until(ws, lambda d: "stream" in d)
                assert env["stream"] == "btcusdt@bookTicker"
                await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@aggTrade"], "id": 2}))
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
                listed = await _until(ws, lambda d: d.get("id") == 3)
                assert listed == {"result": ["btcusdt@bookTicker", "ethusdt@aggTrade"], "id": 3}
                await asyncio.sleep(1.1)  # Binance allows 5 incoming messages per second
                await ws.send_str(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 4}))
                await _until(ws, lambda d: d.get("id") == 4)
                await ws.send_str(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 5}))
                assert await _until(ws, lambda d: d.get("id") == 5) == {"result": True, "id": 5}
                await ws.send_str("{not json")
                err = await _until(ws, lambda d: "code" in d)
                assert err["code"] == 3 and err["msg"].startswith("Invalid JSON")
                await asyncio.sleep(1.1)
                await ws.send_str(json.dumps({"method": "FLY", "id": 6}))
                assert (await _until(ws, lambda d: "code" in d))["code"] == 2
                await ws.send_str(json.dumps({"method": "GET_PROPERTY", "params": ["colour"], "id": 7}))
                assert (await _until(ws, lambda d: "code" in d))["code"] == 0
                # After UNSUBSCRIBE only aggTrade flows.
                for _ in range(30):
                    env = await _recv_json(ws)
                    if "stream" in env:
                        assert env["stream"] == "ethusdt@aggTrade"
        finally:
            await sim.stop()

    run(body)


def test_server_pings_and_incoming_message_limit() -> None:
    async def body() -> None:
        scenario = {"ws": {"ping_interval_s": 0.2, "pong_timeout_s": 5}}
        sim = await start_simulator(SimConfig(speed=1.0, scenario=scenario))
        try:
            async with aiohttp.ClientSession() as http:
                async with http.ws_connect(sim.ws_base_url + "/ws", autoping=False) as ws:
                    msg = await ws.receive(timeout=3)
                    assert msg.type == aiohttp.WSMsgType.PING and int(msg.data) > 1_600_000_000_000
                async with http.ws_connect(sim.ws_base_url + "/ws") as ws:
                    for i in range(7):
                        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
                    closed = None
                    for _ in range(20):
                        msg = await ws.receive(timeout=3)
                        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                            closed = msg
                            break
                    assert closed is not None and ws.close_code == 1008
            assert sim.stats()["ws"]["rate_limit_closes"] == 1
        finally:
            await sim.stop()

    run(body)


def test_ws_and_rest_describe_one_market_and_backfill_by_id() -> None:
    async def body() -> None:
        sim = await start_simulator(SimConfig(speed=20.0, seed=11))
        try:
            async with aiohttp.ClientSession() as http:
                url = sim.ws_base_url + "/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker"
                async with http.ws_connect(url) as ws:
                    aggs: list[dict[str, Any]] = []
                    deadline = time.monotonic() + 10
                    while len(aggs) < 60 and time.monotonic() < deadline:
                        env = await _recv_json(ws)
                        if env["stream"] == "btcusdt@aggTrade":
                            aggs.append(env["data"])
                ids = [a["a"] for a in aggs]
                assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous on the wire
                # After the "disconnect", REST fills the gap from the last id seen, identically.
                async with http.get(f"{sim.base_url}/api/v3/aggTrades?symbol=BTCUSDT&fromId={ids[10]}&limit=40") as r:
                    rest = await r.json()
                strip = [{k: v for k, v in a.items() if k not in ("e", "E", "s")} for a in aggs[10:50]]
                assert rest == strip
                # One book: the REST depth top equals the latest bookTicker of the same update id.
                async with http.ws_connect(sim.ws_base_url + "/ws/btcusdt@bookTicker") as ws:
                    bt = await _recv_json(ws)
                    async with http.get(f"{sim.base_url}/api/v3/depth?symbol=BTCUSDT&limit=5") as r:
                        depth = await r.json()
                    while True:
                        if bt["u"] == depth["lastUpdateId"]:
                            break
                        assert bt["u"] < depth["lastUpdateId"]
                        bt = await _recv_json(ws)
                    assert [bt["b"], bt["B"]] == depth["bids"][0] and [bt["a"], bt["A"]] == depth["asks"][0]
        finally:
            await sim.stop()

    run(body)


def test_kline_stream_closes_bars_that_rest_then_serves_identically() -> None:
    async def body() -> None:
        sim = await start_simulator(SimConfig(speed=10.0, seed=21))
        try:
            async with aiohttp.ClientSession() as http:
                async with http.ws_connect(sim.ws_base_url + "/ws/ethusdt@kline_1s") as ws:
                    closed = await _until(ws, lambda d: d["k"]["x"], limit=200)
                k = closed["k"]
                url = f"{sim.base_url}/api/v3/klines?symbol=ETHUSDT&interval=1s&startTime={k['t']}&limit=1"
                async with http.get(url) as r:
                    (rest,) = await r.json()
                assert rest[0] == k["t"] and rest[6] == k["T"]
                assert rest[1:6] == [k["o"], k["h"], k["l"], k["c"], k["v"]] and rest[8] == k["n"]
        finally:
            await sim.stop()

    run(body)
