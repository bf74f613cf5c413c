"""Binance from this machine: REST reachable and how fast, the WebSocket stream delivering, and the clock
offset against `/api/v3/time` (all direct, never through a proxy, as a night connects)."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from minibot.clock import RunClock
from minibot.config.binance import BinanceConfig
from minibot.config.views import MetricsConfig
from minibot.doctor.rows import DoctorContext, Row, Status
from minibot.market.clock_skew import ClockSkew, measure_skew
from minibot.market.errors import MarketError
from minibot.market.models import MarketMessage
from minibot.market.rest import BinanceRest
from minibot.market.ws import StreamClient, StreamStatus, stream_names

PINGS = 5
SKEW_SAMPLES = 5
WS_FIRST_MESSAGE_S = 20.0
OFFSET_OK_MS = 250
SYNC_CLOCK = "synchronise the clock: Settings > Time & language > Date & time > Sync now (or `w32tm /resync`)"
NO_PROXY_NOTE = "NORE connects directly, never through a proxy (docs/operations.md, 'Network')"


def check(ctx: DoctorContext) -> list[Row]:
    """Rows `binance rest`, `clock offset` and `binance ws`."""
    return asyncio.run(_check(ctx))


async def _check(ctx: DoctorContext) -> list[Row]:
    binance = BinanceConfig.from_config(ctx.cfg)
    clock = ctx.clock()
    rest = BinanceRest(ctx.rest_url, binance.rest_timeout_s, binance.weight_limit, clock)
    try:
        rows = await _rest_rows(ctx, rest, clock)
    finally:
        await rest.close()
    rows.append(await _ws_row(ctx, clock))
    return rows


async def _rest_rows(ctx: DoctorContext, rest: BinanceRest, clock: RunClock) -> list[Row]:
    try:
        for _ in range(PINGS):
            await rest.ping()
        skew = ClockSkew(SKEW_SAMPLES)
        for _ in range(SKEW_SAMPLES):
            skew.add(await measure_skew(rest, clock))
    except (MarketError, ValueError) as exc:
        return [
            Row(
                "binance rest",
                Status.FAIL,
                f"{ctx.rest_url} does not answer: {exc}",
                f"check the internet connection and firewall for {ctx.rest_url}; {NO_PROXY_NOTE}",
            ),
            Row("clock offset", Status.FAIL, "not measured: Binance did not answer", "see `binance rest`"),
        ]
    latencies = [r.latency_ms for r in rest.request_log if r.path == "/api/v3/ping"]
    p50, worst = statistics.median(latencies), max(latencies)
    limit = MetricsConfig.from_config(ctx.cfg).max_latency_p95_ms
    detail = f"{ctx.rest_url}: {PINGS} pings, median {p50:.0f} ms, slowest {worst:.0f} ms"
    if worst > limit:
        rest_row = Row(
            "binance rest",
            Status.WARN,
            f"{detail}; over metrics.max_latency_p95_ms ({limit:.0f} ms) a night FAILs verify",
            "use a wired connection; avoid downloads and VPNs during the night",
        )
    else:
        rest_row = Row("binance rest", Status.OK, detail)
    return [rest_row, _offset_row(ctx, skew)]


def _offset_row(ctx: DoctorContext, skew: ClockSkew) -> Row:
    best = skew.best
    assert best is not None
    offset, bound = best.skew_ms, best.rtt_ms / 2
    limit = BinanceConfig.from_config(ctx.cfg).health.max_clock_skew_ms
    detail = f"this machine is {abs(offset)} ms {'behind' if offset > 0 else 'ahead of'} Binance (+-{bound:.0f} ms)"
    if abs(offset) > limit:
        return Row(
            "clock offset", Status.FAIL, f"{detail}; over binance.health.max_clock_skew_ms ({limit})", SYNC_CLOCK
        )
    if abs(offset) > OFFSET_OK_MS:
        return Row("clock offset", Status.WARN, detail, SYNC_CLOCK)
    return Row("clock offset", Status.OK, detail)


async def _ws_row(ctx: DoctorContext, clock: RunClock) -> Row:
    binance = BinanceConfig.from_config(ctx.cfg)
    first = asyncio.Event()
    refused = asyncio.Event()  # a refused connection fails at once: no need to wait out the reconnects
    statuses: list[str] = []

    async def on_message(_message: MarketMessage) -> None:
        first.set()

    def on_status(status: StreamStatus) -> None:
        statuses.append(status.detail)
        if status.kind == "disconnected":
            refused.set()

    streams = stream_names(list(binance.symbols)[:1], ["bookTicker"])
    client = StreamClient(
        ctx.ws_url,
        streams,
        clock,
        on_message,
        on_status=on_status,
        connect_timeout_s=binance.ws_connect_timeout_s,
    )
    started = clock.now_ms()
    pump: asyncio.Task[Any] = asyncio.create_task(client.run())
    try:
        waits = [asyncio.create_task(first.wait()), asyncio.create_task(refused.wait())]
        await asyncio.wait(waits, timeout=WS_FIRST_MESSAGE_S, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        if not first.is_set():
            why = statuses[-1] if statuses else "connected, but no message"
            return Row(
                "binance ws",
                Status.FAIL,
                f"{ctx.ws_url}: no market data ({why})",
                f"allow outgoing connections to {ctx.ws_url} in the firewall; {NO_PROXY_NOTE}",
            )
    finally:
        await client.close()
        await asyncio.wait_for(pump, 10)
    return Row("binance ws", Status.OK, f"{ctx.ws_url}: first {streams[0]} after {clock.now_ms() - started} ms")
