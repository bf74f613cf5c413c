"""Recorded Binance data served over REST and WebSocket, and the `nore sim` command line."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import ccxt
import pytest

from minibot.marketdata.num import parse_e8
from minibot.sim.runner import SimConfig, SimulatorThread, start_simulator
from tests.shared_data import BTC_TRADES, REPO, XRP_AGG_11

from .conftest import get_json, run

pytestmark = pytest.mark.process


@pytest.mark.usefixtures("binance_data")
def test_replayed_trades_over_rest_match_the_file_shifted() -> None:
    rows = [line.split(",") for line in BTC_TRADES.read_text().splitlines()]
    with SimulatorThread(SimConfig(symbols=[], data_paths=[BTC_TRADES], speed=50.0)) as sim:
        _, _, info = get_json(sim.base_url + "/sim/info")
        shift = info["replay"][0]["shift_ms"]
        assert info["replay"][0]["original_first_ms"] == int(rows[0][4])
        ex = ccxt.binance(
            {
                "urls": {"api": {"public": sim.base_url + "/api/v3"}},
                "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
            }
        )
        ex.load_markets()
        assert ex.markets["BTC/USDT"]["precision"]["price"] == 0.01
        _, _, trades = get_json(sim.base_url + "/api/v3/trades?symbol=BTCUSDT&limit=100")
        by_id = {int(r[0]): r for r in rows}
        for t in trades:
            row = by_id[t["id"]]
            assert (t["price"], t["qty"], t["quoteQty"]) == (row[1], row[2], row[3])
            assert t["time"] - shift == int(row[4]) and t["isBuyerMaker"] == (row[5] == "True")
        _, _, aggs = get_json(sim.base_url + "/api/v3/aggTrades?symbol=BTCUSDT&limit=50")
        for a in aggs:
            fills = [by_id[i] for i in range(a["f"], a["l"] + 1)]
            assert {r[1] for r in fills} == {a["p"]}
            assert sum(parse_e8(r[2]) for r in fills) == parse_e8(a["q"])
        assert sim.stats()["violations_total"] == 0


@pytest.mark.usefixtures("binance_data")
def test_replayed_agg_trades_stream_like_the_recording() -> None:
    rows = [line.split(",") for line in XRP_AGG_11.read_text().splitlines()][:400]

    async def body() -> None:
        sim = await start_simulator(SimConfig(symbols=[], data_paths=[XRP_AGG_11], speed=200.0))
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_base_url + "/ws/xrpeth@aggTrade") as ws:
                got = [json.loads((await ws.receive(timeout=10)).data) for _ in range(30)]
            first = int(rows[0][0])
            for g in got:
                row = rows[g["a"] - first]
                assert (g["p"], g["q"], g["f"], g["l"]) == (row[1], row[2], int(row[3]), int(row[4]))
                assert g["m"] == (row[6] == "True") and g["s"] == "XRPETH"
            assert [g["a"] for g in got] == list(range(got[0]["a"], got[0]["a"] + 30))
        finally:
            await sim.stop()

    run(body)


def _default_sigint() -> None:
    # A test run started in the background of a non-interactive shell (as CI scripts may) inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler: give the child Ctrl+C as a console does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(*args: str, console_ctrl_c: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "minibot.sim", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint if console_ctrl_c else None,  # the Ctrl+C test is POSIX-only (skipped on win32)
    )


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT; Ctrl+C on Windows is a console event")
def test_cli_prints_listening_line_serves_and_exits_cleanly_on_ctrl_c() -> None:
    proc = _spawn("--symbols", "BTCUSDT,SOLUSDT", "--speed", "5", "--seed", "9", console_ctrl_c=True)
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        assert line.startswith("listening on http://127.0.0.1:")
        base = line.removeprefix("listening on ")
        _, _, info = get_json(base + "/api/v3/exchangeInfo")
        assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "SOLUSDT"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_cli_bad_data_file_fails_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "ETHUSDT-aggTrades-2025-01-01.csv"
    bad.write_text("1,2.0,1.0,1,1,1735689600010866,False,True\n2,2.0,1.0,2,2,oops,False,True\n")
    proc = _spawn("--data", str(bad))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert f"{bad}:2:" in err and "timestamp" in err


def test_cli_refuses_non_loopback_host() -> None:
    proc = _spawn("--host", "0.0.0.0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "loopback" in err


def test_async_api_reports_port_and_urls() -> None:
    async def body() -> None:
        sim = await start_simulator(SimConfig(port=0))
        try:
            assert sim.port > 0 and sim.base_url == f"http://127.0.0.1:{sim.port}"
            assert sim.ws_base_url == f"ws://127.0.0.1:{sim.port}"
            assert sim.stats()["requests_total"] == 0
        finally:
            await sim.stop()
        await asyncio.sleep(0)

    run(body)
