"""MarketFeed: what `market_role` runs. One object that keeps market data flowing and judges health.

It wires together, on one event loop:
- `StreamGroup`: the combined WS streams, over as many connections as the URL limits need (bookTicker /
  aggTrade / trade per symbol, plus the partial-depth stream `<symbol>@depth<N>@100ms` when
  `depth_levels` is N > 0);
- `AggTradeGapFiller`: every aggTrade, from whichever source, passes through it, so the emitted
  aggTrades are gap-free and duplicate-free per symbol (REST back-fill on a jump);
- a REST snapshot of every symbol's best bid/ask at start, and a REST fallback while the stream is down
  or stale: bookTicker for all symbols plus aggTrades from the last emitted id, every
  `rest_fallback_poll_ms`;
- `HealthChecker`: probes, `health` payloads and the STOP decision. Stream troubles (malformed frames,
  stale stream, lost connection) and unfilled gaps become degradation notes in the next health event.
`run()` returns the STOP reason when the health policy decides STOP, or None after `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Any

from minibot.clock import RunClock
from minibot.config.binance import BinanceConfig
from minibot.market.errors import Banned, MarketError
from minibot.market.gaps import AggTradeGapFiller, GapReport
from minibot.market.health import HealthChecker, HealthPolicy, ProbeResult
from minibot.market.models import AggTrade, MarketMessage
from minibot.market.rest import JOURNALED_LOG_SIZE, LOG_SIZE, BinanceRest, RequestRecord
from minibot.market.streamgroup import StreamGroup
from minibot.market.ws import StreamStatus, stream_names
from minibot.reasons import ReasonCode
from minibot.rolenames import Role


class MarketFeed:
    """Market data + health for the configured symbols; callbacks are called on the feed's event loop."""

    def __init__(
        self,
        cfg: BinanceConfig,
        clock: RunClock,
        on_message: Callable[[MarketMessage], None],
        on_health: Callable[[dict[str, Any]], None],
        on_stop: Callable[[ReasonCode, str], None] | None = None,
        on_request: Callable[[RequestRecord], None] | None = None,
        on_latency: Callable[[ProbeResult], None] | None = None,
        on_gap: Callable[[GapReport], None] | None = None,
        on_stream_status: Callable[[StreamStatus], None] | None = None,
        rng: random.Random | None = None,
        health_role: str = Role.HEALTH.value,
        depth_levels: int = 0,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.on_message = on_message
        self.on_gap_cb = on_gap
        self.on_stream_status = on_stream_status
        # With a hook the records are journaled: memory keeps only the newest (rest.JOURNALED_LOG_SIZE).
        log_size = JOURNALED_LOG_SIZE if on_request is not None else LOG_SIZE
        self.rest = BinanceRest(cfg.rest_base_url, cfg.rest_timeout_s, cfg.weight_limit, clock, on_request, log_size)
        self.rest.weights.slow_fraction = cfg.weight_slow_fraction
        self.gaps = AggTradeGapFiller(
            self.rest,
            clock,
            cfg.backfill.page_limit,
            cfg.backfill.max_pages,
            cfg.backfill.attempts,
            cfg.backfill.retry_ms,
            on_gap=self._on_gap,
        )
        self.stream = StreamGroup(
            cfg.ws_base_url,
            stream_names(cfg.symbols, [*cfg.streams, *([f"depth{depth_levels}@100ms"] if depth_levels else [])]),
            rng,
            clock=clock,
            on_message=self._on_stream_message,
            on_status=self._on_status,
            backoff_base_ms=cfg.reconnect.backoff_base_ms,
            backoff_max_ms=cfg.reconnect.backoff_max_ms,
            proactive_reconnect_ms=cfg.proactive_reconnect_ms,
            stale_stream_ms=cfg.stale_stream_ms,
            connect_timeout_s=cfg.ws_connect_timeout_s,
        )
        policy = HealthPolicy.for_run(cfg, clock)
        self.health = HealthChecker(
            self.rest,
            policy,
            clock,
            on_health,
            cfg.health.interval_s,
            cfg.health.exchange_info_interval_s,
            cfg.symbols,
            on_latency=on_latency,
            on_stop=on_stop,
            max_skew_ms=cfg.health.max_clock_skew_ms,
            role=health_role,
        )
        self.emitted = 0
        self.fallback_polls = 0
        self.fallback_errors = 0
        self._closing = asyncio.Event()

    # Callbacks from the parts -----------------------------------------------------------------------

    def _emit(self, message: MarketMessage) -> None:
        self.emitted += 1
        self.on_message(message)

    async def _admit_and_emit(self, message: MarketMessage) -> None:
        if not isinstance(message, AggTrade):
            self._emit(message)
            return
        for trade in await self.gaps.admit(message):
            self._emit(trade)

    async def _on_stream_message(self, message: MarketMessage) -> None:
        try:
            await self._admit_and_emit(message)
        except Banned as exc:
            # The health checker's next probe hits the same ban locally and decides STOP.
            self.health.note(f"back-fill refused: {exc.detail}")

    def _on_status(self, status: StreamStatus) -> None:
        if status.kind in ("malformed", "stale", "disconnected"):
            self.health.note(f"ws {status.kind}: {status.detail}")
        if self.on_stream_status is not None:
            self.on_stream_status(status)

    def _on_gap(self, report: GapReport) -> None:
        if report.missing:
            self.health.note(
                f"aggTrade gap {report.symbol} {report.from_id}..{report.to_id}: "
                f"{report.missing} ids not back-filled ({report.error})"
            )
        if self.on_gap_cb is not None:
            self.on_gap_cb(report)

    # REST snapshot and fallback ---------------------------------------------------------------------

    async def _poll_rest(self) -> None:
        """One REST round: best bid/ask of every symbol, and aggTrades after the last emitted id."""
        self.fallback_polls += 1
        try:
            for ticker in await self.rest.book_ticker(list(self.cfg.symbols)):
                self._emit(ticker)
            if "aggTrade" in self.cfg.streams:
                for symbol in self.cfg.symbols:
                    last = self.gaps.last_id.get(symbol)
                    if last is None:
                        continue  # no baseline yet: the stream's first trade sets it
                    trades = await self.rest.agg_trades(symbol, from_id=last + 1, limit=self.cfg.backfill.page_limit)
                    for trade in trades:
                        await self._admit_and_emit(trade)
        except MarketError as exc:
            # Health probes judge reachability; a failed fallback poll is retried next period.
            self.fallback_errors += 1
            if isinstance(exc, Banned):
                self.health.note(f"REST fallback refused: {exc.detail}")

    async def _fallback_loop(self) -> None:
        await self._poll_rest()  # the start snapshot: a price per symbol before the stream's first frame
        period = self.clock.real_seconds(self.cfg.rest_fallback_poll_ms)
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), period)
            if not self._closing.is_set() and not self.stream.live():
                # Market data is flowing, but not as intended: every round in fallback reports DEGRADED.
                self.health.note("ws stream not live: serving REST fallback")
                await self._poll_rest()

    # Lifecycle --------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop every part; `run` then returns None (unless a STOP was already decided)."""
        self._closing.set()
        await self.health.close()
        await self.stream.close()

    async def run(self) -> ReasonCode | None:
        """Run until STOP (returns its reason) or `close()` (returns None); always closes the client.

        If the stream or fallback task dies of an unexpected exception (e.g. raised by `on_message`), the
        feed shuts down and re-raises it: a market feed that silently lost its stream must not go on.
        """
        health_task = asyncio.create_task(self.health.run(), name="market-health")
        stream_task = asyncio.create_task(self.stream.run(), name="market-stream")
        fallback_task = asyncio.create_task(self._fallback_loop(), name="market-rest-fallback")
        tasks = (health_task, stream_task, fallback_task)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._closing.set()
            await self.health.close()
            await self.stream.close()
            grace_s = self.cfg.rest_timeout_s + 1.0
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
            await self.rest.close()
        for task in (stream_task, fallback_task):
            exc = None if task.cancelled() else task.exception()
            if exc is not None:
                raise exc
        return None if health_task.cancelled() else health_task.result()

    def stats(self) -> dict[str, Any]:
        """Counters for metrics and tests."""
        return {
            "emitted": self.emitted,
            "ws_connects": self.stream.connects,
            "ws_messages": self.stream.messages,
            "ws_malformed": self.stream.malformed,
            "reconnect_ms": list(self.stream.reconnect_durations_ms),
            "agg_duplicates": self.gaps.duplicates,
            "agg_gaps": self.gaps.gaps,
            "agg_backfilled": self.gaps.backfilled,
            "agg_unfilled": self.gaps.unfilled,
            "fallback_polls": self.fallback_polls,
            "fallback_errors": self.fallback_errors,
            "requests": self.rest.requests_sent,
            "weight_used": self.rest.weights.used,
            "weight_slowdowns": self.rest.weights.slowdowns,
            "rate_limited": self.rest.weights.rate_limited,
            "health_rounds": self.health.rounds,
            "clock_skew_ms": self.health.skew.estimate_ms,
            "clock_skew_bound_ms": self.health.skew.bound_ms,
            "clock_jumps": self.health.skew.jumps,
        }
