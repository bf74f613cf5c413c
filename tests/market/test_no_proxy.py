"""The Binance client connects directly: HTTP(S)_PROXY is not honoured (docs/operations.md says why), so a
dead proxy in the environment changes nothing against the loopback simulator, REST or WebSocket."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from minibot.market.models import MarketMessage
from minibot.market.rest import BinanceRest
from minibot.market.ws import StreamClient, stream_names
from minibot.sim.runner import SimConfig, start_simulator
from tests.proxyenv import dead_proxy_env

pytestmark = [pytest.mark.process, pytest.mark.timeout(120)]


def test_rest_and_websocket_ignore_a_dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    dead_proxy_env(monkeypatch)

    async def main() -> None:
        sim = await start_simulator(SimConfig(symbols=["BTCUSDT"], speed=30.0, seed=3))
        rest = BinanceRest(sim.base_url, 10.0, 6000, sim.ctx.clock)
        try:
            # the environment is hostile: a session that trusts it cannot reach the simulator
            async with aiohttp.ClientSession(trust_env=True) as proxied:
                with pytest.raises(aiohttp.ClientError):
                    await proxied.get(sim.base_url + "/api/v3/ping")
            await rest.ping()
            assert abs(await rest.time() - sim.ctx.clock.now_ms()) < 2000
            got: list[MarketMessage] = []
            first = asyncio.Event()

            async def on_message(message: MarketMessage) -> None:
                got.append(message)
                first.set()

            streams = stream_names(["BTCUSDT"], ["bookTicker"])
            ws = StreamClient(sim.ws_base_url, streams, sim.ctx.clock, on_message, connect_timeout_s=5.0)
            pump = asyncio.create_task(ws.run())
            await asyncio.wait_for(first.wait(), 30)
            await ws.close()
            await asyncio.wait_for(pump, 10)
            assert ws.connects == 1 and got
        finally:
            await rest.close()
            await sim.stop()

    asyncio.run(asyncio.wait_for(main(), 60))
