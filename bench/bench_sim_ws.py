"""Benchmark: the simulator pushing bookTicker for 200 symbols to one client, and WS reconnect time.

Run from the repository root:

    .venv/bin/python bench/bench_sim_ws.py                  # defaults: 200 symbols, 10 s per measurement
    .venv/bin/python bench/bench_sim_ws.py --symbols 200 --seconds 10 --reconnects 40

The simulator runs as its own process (`python -m minibot.sim`), as `nore run --sim` would, so client and
server do not share an interpreter. Each synthetic symbol updates its book once per 100 ms of run clock
(the step's trades and quote move are one update), so the offered bookTicker rate is about symbols x 10 x
speed; it is measured, as the messages /sim/stats counts as served on the client's streams (`ws.served`).
"max" runs at speed 50 to find the ceiling.

Printed per client (websockets, aiohttp) and rate: messages/s received and JSON-decoded by the client,
the rate the server reports having sent (/sim/stats), and the share of offered messages delivered.
Then the reconnect time after a server-side drop (scenario `ws_disconnect` every 2 s of run clock):
from the client noticing the drop to the first bookTicker on the new connection, p50/p95.
Figures depend on the machine; this is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import websockets

REPO = Path(__file__).resolve().parents[1]


WARMUP_S = 1.0
MAX_SPEED = 50.0


def start_sim(symbols: list[str], speed: float, scenario: Path | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start `python -m minibot.sim` and return the process and its base URL."""
    cmd = [sys.executable, "-m", "minibot.sim", "--symbols", ",".join(symbols), "--speed", str(speed)]
    if scenario is not None:
        cmd += ["--scenario", str(scenario)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def stop_sim(proc: subprocess.Popen[str]) -> None:
    """Stop the simulator process."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def sent_messages(base: str) -> int:
    """Messages the simulator reports having sent on all WebSockets."""
    with urllib.request.urlopen(base + "/sim/stats", timeout=10) as resp:
        return int(json.loads(resp.read())["ws"]["messages_sent"])


def served_messages(base: str) -> int:
    """Messages the market produced for subscribers (/sim/stats `ws.served`, summed over streams)."""
    with urllib.request.urlopen(base + "/sim/stats", timeout=10) as resp:
        return sum(json.loads(resp.read())["ws"]["served"].values())


def stream_url(base: str, symbols: list[str]) -> str:
    """Combined-stream URL for every symbol's bookTicker."""
    ws = base.replace("http://", "ws://")
    return ws + "/stream?streams=" + "/".join(f"{s.lower()}@bookTicker" for s in symbols)


async def receive_websockets(url: str, seconds: float) -> int:
    """Receive and decode for `seconds` with the `websockets` client; returns messages decoded."""
    count = 0
    async with websockets.connect(url, max_size=None, max_queue=None, compression=None) as ws:
        await asyncio.wait_for(ws.recv(), 10)
        warm = time.perf_counter() + WARMUP_S
        while time.perf_counter() < warm:
            await ws.recv()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            json.loads(await ws.recv())
            count += 1
    return count


async def receive_aiohttp(url: str, seconds: float) -> int:
    """Receive and decode for `seconds` with aiohttp's client; returns messages decoded."""
    count = 0
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        await ws.receive(timeout=10)
        warm = time.perf_counter() + WARMUP_S
        while time.perf_counter() < warm:
            await ws.receive(timeout=10)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            msg = await ws.receive(timeout=10)
            json.loads(msg.data)
            count += 1
    return count


def throughput(symbols: list[str], speed: float, seconds: float, client: str, scenario: Path) -> dict[str, Any]:
    """One measurement: a fresh simulator, one client, `seconds` of receiving after a warm-up."""
    proc, base = start_sim(symbols, speed, scenario)
    try:
        url = stream_url(base, symbols)
        before, served_before = sent_messages(base), served_messages(base)
        t0 = time.perf_counter()
        fn = receive_websockets if client == "websockets" else receive_aiohttp
        got = asyncio.run(fn(url, seconds))
        elapsed = time.perf_counter() - t0
        sent = sent_messages(base) - before
        offered = (served_messages(base) - served_before) / elapsed
    finally:
        stop_sim(proc)
    return {
        "client": client,
        "offered_per_s": offered,
        "received_per_s": got / seconds,
        "server_sent_per_s": sent / elapsed,
        "delivered_share": got / seconds / offered,
    }


async def reconnects(url: str, count: int) -> tuple[list[float], list[float]]:
    """Stay subscribed through `count` server drops; time drop->open and drop->first message (ms)."""
    to_open: list[float] = []
    to_data: list[float] = []
    dropped_at: float | None = None
    while len(to_data) < count:
        t_connect = time.perf_counter()
        try:
            async with websockets.connect(url, max_size=None, compression=None, open_timeout=10) as ws:
                opened = time.perf_counter()
                await asyncio.wait_for(ws.recv(), 10)
                first = time.perf_counter()
                if dropped_at is not None:
                    to_open.append((opened - dropped_at) * 1000)
                    to_data.append((first - dropped_at) * 1000)
                while True:
                    await ws.recv()
        except (TimeoutError, websockets.ConnectionClosed, OSError):
            dropped_at = time.perf_counter()
            if dropped_at - t_connect < 0.001:
                await asyncio.sleep(0.01)
    return to_open, to_data


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Run every measurement and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--symbols", type=int, default=200, help="number of synthetic symbols")
    ap.add_argument("--seconds", type=float, default=10.0, help="receive time per throughput measurement")
    ap.add_argument("--reconnects", type=int, default=40, help="server drops to time")
    args = ap.parse_args()
    symbols = [f"S{i:03d}USDT" for i in range(args.symbols - 2)] + ["BTCUSDT", "ETHUSDT"]
    print(f"bookTicker for {len(symbols)} symbols to one client, {args.seconds:.0f} s per row")
    print(f"{'client':<11} {'offered/s':>10} {'server sent/s':>14} {'received+decoded/s':>19} {'delivered':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        # The "max" rows offer more than can be delivered; a deep queue keeps the simulator from dropping
        # the client as a slow consumer (what Binance would do) so the ceiling can be measured.
        deep = Path(tmp) / "deep_queue.json"
        deep.write_text(json.dumps({"ws": {"max_queue": 20_000_000}}))
        for speed in (5.0, MAX_SPEED):
            for client in ("websockets", "aiohttp"):
                r = throughput(symbols, speed, args.seconds, client, deep)
                print(
                    f"{client:<11} {r['offered_per_s']:>10,.0f} {r['server_sent_per_s']:>14,.0f} "
                    f"{r['received_per_s']:>19,.0f} {r['delivered_share']:>9.0%}"
                )
        scenario = Path(tmp) / "drops.json"
        scenario.write_text(json.dumps({"faults": [{"kind": "ws_disconnect", "at_ms": 2000, "every_ms": 2000}]}))
        proc, base = start_sim(symbols, 4.0, scenario)
        try:
            to_open, to_data = asyncio.run(reconnects(stream_url(base, symbols), args.reconnects))
        finally:
            stop_sim(proc)
    print(f"reconnect after a drop ({len(to_data)} drops, websockets client, {len(symbols)} streams):")
    print(f"  drop noticed -> connection open:  p50 {pct(to_open, 0.5):6.1f} ms  p95 {pct(to_open, 0.95):6.1f} ms")
    print(
        f"  drop noticed -> first message:    p50 {pct(to_data, 0.5):6.1f} ms  p95 {pct(to_data, 0.95):6.1f} ms"
        f"  (mean {statistics.mean(to_data):.1f})"
    )


if __name__ == "__main__":
    main()
