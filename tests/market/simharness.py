"""Runs a MarketFeed against the real loopback simulator and collects what it emitted.

Not a mock: the simulator is the Binance-compatible server from minibot.sim, on 127.0.0.1, port 0.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from minibot.clock import RunClock
from minibot.config.binance import BinanceConfig
from minibot.market.config import default_section
from minibot.market.feed import MarketFeed
from minibot.market.gaps import GapReport
from minibot.market.models import AggTrade, MarketMessage
from minibot.market.rest import RequestRecord
from minibot.market.ws import StreamStatus
from minibot.reasons import ReasonCode
from minibot.sim.runner import SimConfig, start_simulator

SYMBOLS = ["BTCUSDT", "ETHUSDT"]

# Test defaults: production cadence, except a shorter stale timer and fallback period so faults
# resolve within a few run-clock minutes.
TEST_OVERRIDES: dict[str, Any] = {
    "stale_stream_ms": 10_000,
    "rest_fallback_poll_ms": 1000,
    # A probe is "slow" above slow_latency_ms / speed real ms: keep that well above loopback noise on a
    # busy 2-CPU CI box (3000 run-ms = 100 real ms at speed 30).
    "health": {"interval_s": 5, "exchange_info_interval_s": 60, "slow_latency_ms": 3000},
    "reconnect": {"backoff_base_ms": 500, "backoff_max_ms": 5000},
}


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of two config dicts."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass
class FeedRun:
    """What one feed run against the simulator produced."""

    reason: ReasonCode | None = None
    stop_detail: str = ""
    messages: list[MarketMessage] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    statuses: list[StreamStatus] = field(default_factory=list)
    gaps: list[GapReport] = field(default_factory=list)
    feed_stats: dict[str, Any] = field(default_factory=dict)
    sim_stats: dict[str, Any] = field(default_factory=dict)
    real_s: float = 0.0

    def agg_ids(self, symbol: str) -> list[int]:
        """aggTrade ids emitted for `symbol`, in emission order."""
        return [m.agg_id for m in self.messages if isinstance(m, AggTrade) and m.symbol == symbol]

    def states(self) -> list[str]:
        """Health states in order."""
        return [h["state"] for h in self.health]

    def ok_rounds(self) -> list[dict[str, Any]]:
        """Health rounds in which every probe succeeded."""
        return [h for h in self.health if h["probes"] and all(p["ok"] for p in h["probes"])]


async def run_feed(
    scenario: dict[str, Any] | None,
    run_ms: int,
    speed: float = 30.0,
    overrides: dict[str, Any] | None = None,
    seed: int = 1,
    symbols: list[str] | None = None,
) -> FeedRun:
    """Start the simulator and a feed on one run clock; run `run_ms` run-clock ms or until STOP."""
    symbols = symbols or SYMBOLS
    sim_cfg = SimConfig(
        host="127.0.0.1", port=0, symbols=symbols, data_paths=[], speed=speed, scenario=scenario, seed=seed,
    )  # fmt: skip
    running = await start_simulator(sim_cfg)
    # One run clock for both, as the supervisor hands one to every role and the embedded simulator.
    clock: RunClock = running.ctx.clock
    out = FeedRun()
    try:
        section = merged(merged(default_section(), TEST_OVERRIDES), overrides or {})
        section.update(rest_base_url=running.base_url, ws_base_url=running.ws_base_url, symbols=symbols)
        cfg = BinanceConfig.from_config({"binance": section})

        def on_stop(reason: ReasonCode, detail: str) -> None:
            out.stop_detail = detail

        feed = MarketFeed(
            cfg,
            clock,
            on_message=out.messages.append,
            on_health=out.health.append,
            on_stop=on_stop,
            on_request=out.requests.append,
            on_gap=out.gaps.append,
            on_stream_status=out.statuses.append,
            rng=random.Random(seed),
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(feed.run())
        done, _ = await asyncio.wait({task}, timeout=clock.real_seconds(run_ms))
        if not done:
            await feed.close()
        out.reason = await asyncio.wait_for(task, 30)
        out.real_s = loop.time() - started
        out.feed_stats = feed.stats()
        out.sim_stats = running.stats()
    finally:
        await running.stop()
    return out


def run(scenario: dict[str, Any] | None, run_ms: int, **kw: Any) -> FeedRun:
    """Synchronous wrapper with an overall real-time bound."""
    return asyncio.run(asyncio.wait_for(run_feed(scenario, run_ms, **kw), 90))
