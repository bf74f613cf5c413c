"""Fixtures for the simulator tests: the shared real Binance data, a running simulator, small helpers.

Everything runs on 127.0.0.1 with port 0; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from minibot.sim.runner import SimConfig, SimulatorThread

REPO = Path(__file__).resolve().parents[2]
DATA = (REPO / ".." / "shared" / "data" / "binance").resolve()
BTC_TRADES = DATA / "trades" / "BTCUSDT-trades-20240808T2354Z-20240809T0005Z.csv"
ETH_TRADES = DATA / "trades" / "ETHUSDT-trades-20240808T2354Z-20240809T0005Z.csv"
XRP_AGG_11 = DATA / "aggTrades" / "XRPETH-aggTrades-2019-10-11.csv"
XRP_AGG_12 = DATA / "aggTrades" / "XRPETH-aggTrades-2019-10-12.csv"
ALGO_KLINES = DATA / "klines_usdm_futures_1m" / "ALGOUSDT-1m-2026-02.csv.gz"

T = TypeVar("T")


def need_data() -> None:
    """Skip when the shared data directory is not next to the repository."""
    if not BTC_TRADES.is_file():
        pytest.skip(f"shared Binance data not found at {DATA}")


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


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    """A synthetic simulator (BTCUSDT, ETHUSDT) at speed 20, shared by a test module."""
    with SimulatorThread(SimConfig(symbols=["BTCUSDT", "ETHUSDT"], speed=20.0, seed=7)) as running:
        yield running
