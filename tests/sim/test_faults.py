"""Every fault kind of a scenario file, compressed with --speed so each runs in about a second."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from minibot.sim.runner import RunningSimulator, SimConfig, start_simulator

from .conftest import run

pytestmark = pytest.mark.process

SPEED = 10.0


async def _at(sim: RunningSimulator, run_ms: int) -> None:
    """Sleep until the simulator's run clock is `run_ms` after start (bounded by the test timeout)."""
    while sim.ctx.clock.elapsed_ms() < run_ms:
        await asyncio.sleep(0.01)


async def _start(*faults: dict[str, Any]) -> RunningSimulator:
    return await start_simulator(SimConfig(speed=SPEED, seed=5, scenario={"faults": list(faults)}))


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], Any]:
    async with http.get(url) as r:
        return r.status, dict(r.headers), await r.json()


def test_latency_delays_rest_responses() -> None:
    async def body() -> None:
        sim = await _start({"kind": "latency", "at_ms": 2000, "duration_ms": 20_000, "delay_ms": 5000})
        try:
            async with aiohttp.ClientSession() as http:
                await _at(sim, 2500)
                t0 = time.monotonic()
                status, _, _ = await _get(http, sim.base_url + "/api/v3/time")
                assert status == 200 and time.monotonic() - t0 >= 0.45  # 5000 run-ms at speed 10
                await _at(sim, 22_500)
                status, _, _ = await _get(http, sim.base_url + "/api/v3/time")
                assert status == 200
            assert sim.stats()["faults_injected"]["latency"] == 1
        finally:
            await sim.stop()

    run(body)


@pytest.mark.parametrize(("status", "code"), [(503, -1008), (500, -1000), (504, -1007)])
def test_http_5xx_burst(status: int, code: int) -> None:
    async def body() -> None:
        sim = await _start({"kind": "http_5xx", "at_ms": 1000, "duration_ms": 5000, "status": status})
        try:
            async with aiohttp.ClientSession() as http:
                await _at(sim, 1500)
                got, headers, err = await _get(http, sim.base_url + "/api/v3/depth?symbol=BTCUSDT")
                assert (got, err["code"]) == (status, code) and "X-MBX-USED-WEIGHT-1M" in headers
                await _at(sim, 6500)
                got, _, _ = await _get(http, sim.base_url + "/api/v3/depth?symbol=BTCUSDT")
                assert got == 200
        finally:
            await sim.stop()

    run(body)


def test_http_429_burst_with_retry_after() -> None:
    async def body() -> None:
        sim = await _start(
            {"kind": "http_429", "at_ms": 1000, "duration_ms": 5000, "retry_after_s": 7, "paths": ["/api/v3/klines"]}
        )
        try:
            async with aiohttp.ClientSession() as http:
                await _at(sim, 1500)
                got, headers, err = await _get(http, sim.base_url + "/api/v3/klines?symbol=BTCUSDT&interval=1m")
                assert (got, err["code"], headers["Retry-After"]) == (429, -1003, "7")
                got, _, _ = await _get(http, sim.base_url + "/api/v3/time")
                assert got == 200  # only the listed paths
        finally:
            await sim.stop()

    run(body)


@pytest.mark.parametrize("mode", ["refuse", "reset"])
def test_outage_refuses_connections_and_drops_live_ones(mode: str) -> None:
    async def body() -> None:
        sim = await _start({"kind": "outage", "at_ms": 3000, "duration_ms": 10_000, "mode": mode})
        port = sim.port
        try:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(sim.ws_base_url + "/ws/btcusdt@bookTicker")
                await _at(sim, 3500)
                for _ in range(500):  # drain what was sent before the outage, then see the drop
                    msg = await ws.receive(timeout=5)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)
                async with aiohttp.ClientSession() as fresh:
                    with pytest.raises(aiohttp.ClientConnectionError):
                        await _get(fresh, sim.base_url + "/api/v3/ping")
            await _at(sim, 13_500)
            async with aiohttp.ClientSession() as http:
                status, _, _ = await _get(http, sim.base_url + "/api/v3/ping")
                assert status == 200 and sim.port == port
            assert sim.stats()["faults_injected"]["outage"] == 1
        finally:
            await sim.stop()

    run(body)


def test_ws_disconnect_drops_live_connections_and_blocks_reconnects_in_window() -> None:
    async def body() -> None:
        # The window opens 1 s of wall after the start (at speed 10): room for the connection and its first
        # frame on a loaded machine (at 200 ms it once opened before the first frame in a CI-like run).
        sim = await _start({"kind": "ws_disconnect", "at_ms": 10_000, "duration_ms": 3000})
        try:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(sim.ws_base_url + "/stream?streams=btcusdt@bookTicker")
                assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT
                assert sim.ctx.clock.elapsed_ms() < 10_000, "the first frame came after the window opened"
                await _at(sim, 10_100)
                for _ in range(500):
                    msg = await ws.receive(timeout=5)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
                again = await http.ws_connect(sim.ws_base_url + "/stream?streams=btcusdt@bookTicker")
                msg = await again.receive(timeout=5)
                assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)  # in the window
                status, _, _ = await _get(http, sim.base_url + "/api/v3/time")
                assert status == 200  # REST unaffected
                await _at(sim, 13_500)
                async with http.ws_connect(sim.ws_base_url + "/stream?streams=btcusdt@bookTicker") as ok:
                    assert (await ok.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT
        finally:
            await sim.stop()

    run(body)


def test_silent_stream_keeps_ws_open_while_rest_answers() -> None:
    async def body() -> None:
        sim = await _start({"kind": "silent_stream", "at_ms": 2000, "duration_ms": 10_000, "symbols": ["BTCUSDT"]})
        try:
            async with aiohttp.ClientSession() as http:
                url = sim.ws_base_url + "/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker"
                async with http.ws_connect(url) as ws:
                    await _at(sim, 2300)
                    # REST still answers, and its update id marks what the stream had sent before going quiet.
                    status, _, depth = await _get(http, sim.base_url + "/api/v3/depth?symbol=BTCUSDT&limit=5")
                    assert status == 200
                    silenced_from = depth["lastUpdateId"]
                    eth = 0
                    while sim.ctx.clock.elapsed_ms() < 11_000:
                        msg = await ws.receive(timeout=5)
                        assert msg.type == aiohttp.WSMsgType.TEXT
                        env = json.loads(msg.data)
                        if env["stream"] == "btcusdt@bookTicker":
                            assert env["data"]["u"] <= silenced_from  # only frames already in flight
                        else:
                            eth += 1
                    assert eth > 20
                    await _at(sim, 12_500)
                    for _ in range(200):
                        msg = await ws.receive(timeout=5)
                        if json.loads(msg.data)["stream"] == "btcusdt@bookTicker":
                            break
                    else:
                        raise AssertionError("BTCUSDT did not resume")
            assert sim.stats()["ws"]["silenced"] > 0
        finally:
            await sim.stop()

    run(body)


def test_malformed_frames_are_invalid_json() -> None:
    async def body() -> None:
        sim = await _start({"kind": "malformed_frames", "at_ms": 0, "duration_ms": 60_000, "every_n": 3})
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(sim.ws_base_url + "/ws/btcusdt@bookTicker") as ws,
            ):
                bad = good = 0
                for _ in range(30):
                    msg = await ws.receive(timeout=5)
                    try:
                        json.loads(msg.data)
                        good += 1
                    except ValueError:
                        bad += 1
                assert bad >= 5 and good >= 15
            assert sim.stats()["ws"]["malformed_sent"] >= 5
        finally:
            await sim.stop()

    run(body)


def test_clock_skew_offsets_server_time() -> None:
    async def body() -> None:
        # 1 s of wall before the skew (at speed 10), so the first request is answered before it on a loaded box.
        sim = await _start({"kind": "clock_skew", "at_ms": 10_000, "duration_ms": 10_000, "offset_ms": -120_000})
        try:
            async with aiohttp.ClientSession() as http:
                _, _, before = await _get(http, sim.base_url + "/api/v3/time")
                assert abs(before["serverTime"] - sim.ctx.clock.now_ms()) < 2000
                await _at(sim, 11_000)
                _, _, during = await _get(http, sim.base_url + "/api/v3/time")
                assert -125_000 < during["serverTime"] - sim.ctx.clock.now_ms() < -115_000
                _, _, info = await _get(http, sim.base_url + "/api/v3/exchangeInfo")
                assert info["serverTime"] - sim.ctx.clock.now_ms() < -115_000
        finally:
            await sim.stop()

    run(body)


def test_scenario_file_from_disk(tmp_path: Any) -> None:
    path = tmp_path / "night.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "name": "night",
                "faults": [
                    {"kind": "http_5xx", "at_ms": 0, "duration_ms": 100_000, "status": 502, "note": "CDN hiccup"}
                ],
            }
        )
    )

    async def body() -> None:
        sim = await start_simulator(SimConfig(speed=SPEED, scenario=str(path)))
        try:
            async with aiohttp.ClientSession() as http:
                status, _, _ = await _get(http, sim.base_url + "/api/v3/ping")
                assert status == 502
                _, _, info = await _get(http, sim.base_url + "/sim/info")
                assert info["scenario"]["name"] == "night" and info["scenario"]["faults"][0]["status"] == 502
        finally:
            await sim.stop()

    run(body)


def test_ws_disconnect_close_mode_sends_a_close_frame_with_the_code() -> None:
    async def body() -> None:
        sim = await _start({"kind": "ws_disconnect", "at_ms": 1000, "mode": "close", "close_code": 1012})
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(sim.ws_base_url + "/ws/btcusdt@bookTicker") as ws,
            ):
                for _ in range(2000):
                    msg = await ws.receive(timeout=5)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1012
            assert sim.stats()["faults_injected"]["ws_disconnect"] == 1
        finally:
            await sim.stop()

    run(body)


def test_latency_on_ws_holds_back_pushes() -> None:
    async def body() -> None:
        sim = await _start({"kind": "latency", "at_ms": 0, "duration_ms": 600_000, "delay_ms": 4000, "target": "ws"})
        try:
            async with aiohttp.ClientSession() as http:
                t0 = time.monotonic()
                async with http.ws_connect(sim.ws_base_url + "/ws/btcusdt@bookTicker") as ws:
                    first = json.loads((await ws.receive(timeout=5)).data)
                    assert first["s"] == "BTCUSDT" and time.monotonic() - t0 >= 0.35  # 4000 run-ms at speed 10
                status, _, _ = await _get(http, sim.base_url + "/api/v3/ping")
                assert status == 200
        finally:
            await sim.stop()

    run(body)
