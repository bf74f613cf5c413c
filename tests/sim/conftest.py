"""Fixtures for the simulator tests: a running simulator, small helpers (the real data: tests/shared_data.py).

Everything runs on 127.0.0.1 with port 0; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from minibot.sim.runner import SimConfig, SimulatorThread

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
    """Run one async test body in a fresh event loop, bounded by `timeout` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(factory(), timeout)

    return asyncio.run(bounded())


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """Blocking GET returning (status, headers, decoded JSON body), also for error statuses."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"null")


def ccxt_options(base_url: str) -> dict[str, Any]:
    """Options for ccxt's (and ccxt.pro's) `binance` that point every public REST endpoint at the simulator."""
    return {
        "urls": {
            "api": {
                "public": base_url + "/api/v3",
                "private": base_url + "/api/v3",
                "v1": base_url + "/api/v1",
                "sapi": base_url + "/sapi/v1",
                "fapiPublic": base_url + "/fapi/v1",
                "dapiPublic": base_url + "/dapi/v1",
            }
        },
        "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
        "timeout": 10_000,
    }


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    """A synthetic simulator (BTCUSDT, ETHUSDT) at speed 20, shared by a test module."""
    with SimulatorThread(SimConfig(symbols=["BTCUSDT", "ETHUSDT"], speed=20.0, seed=7)) as running:
        yield running
