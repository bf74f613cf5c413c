"""market_role: Binance public market data -> `market_tick` events on the `market_ticks` queue.

`python -m minibot.roles.market_role --run-dir RUN_DIR` (protocol: `minibot.roles.process`, asyncio loop:
`minibot.roles.async_loop`). It runs a `minibot.market.feed.MarketFeed` (combined WS streams with
reconnect, REST snapshot and fallback, aggTrade gap back-fill, health probes) and turns every message
into ticks with `TickBuilder` (payloads + per-symbol conflation of book updates; with `binance.depth_levels`
N > 0 the feed also follows `<symbol>@depth<N>@100ms` and every tick carries the top N levels). Ticks are published in
batches, one write per batch: when `queues.batch_max_events` are waiting, else as soon as the frames already
received are handled (a new tick schedules `_publish_soon` for the event loop's next pass: no polling
delay), and a conflated book when its window ends (`tick()` returns that deadline).

Fail-closed:
- the feed's health policy decides STOP (BINANCE_UNREACHABLE / BINANCE_ERROR_RATE / BINANCE_BANNED):
  `run()` raises it and the loop journals the STOP;
- no market data at all (WS silent and REST fallback failing) for `stale_stream_ms` (the stream is
  declared stale and the fallback starts) plus `health.unreachable_threshold_ms` (the grace R-T4 gives an
  outage): STOP MARKET_DATA_STALE. The sum keeps a plain outage on the BINANCE_UNREACHABLE path, which
  the health policy reaches first, and leaves this STOP for data that stops while Binance still answers;
- malformed frames are counted and skipped by the client and make the next health event DEGRADED.
Every REST request the client makes is journaled in `<run>/market/requests.jsonl`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from minibot.config.binance import BinanceConfig
from minibot.journal.flusher import FLUSHER
from minibot.journal.segments import commit_owed
from minibot.market.feed import MarketFeed
from minibot.market.models import MarketMessage
from minibot.market.rest import RequestRecord
from minibot.model.config import StrategyConfig
from minibot.reasons import ConfigInvalid, NoreError, ReasonCode
from minibot.rolenames import Role
from minibot.roles.async_loop import PolicyRole, async_role_main
from minibot.roles.process import Heartbeat, RoleEnv
from minibot.roles.request_journal import RequestJournal
from minibot.roles.tick_builder import Payload, TickBuilder
from minibot.strategies.bars import BarCloses
from minibot.winsys import FineTimers, Winmm, winmm

ROLE = Role.MARKET.value
QUEUE = "market_ticks"
# Health fields the heartbeat sets itself (role name, process uptime).
_OWN_FIELDS = frozenset({"role", "state", "uptime_s"})


class MarketRole(PolicyRole):
    """One feed, one tick builder, one producer; driven by `run_async_loop`."""

    def __init__(self, env: RoleEnv, heartbeat: Heartbeat, mm: Winmm | None = None) -> None:
        super().__init__()
        self.env = env
        self.clock = env.clock
        self.heartbeat = heartbeat
        self.cfg = BinanceConfig.from_config(env.config)
        if "bookTicker" not in self.cfg.streams:
            raise ConfigInvalid(
                f"binance.streams {list(self.cfg.streams)}: market_role needs 'bookTicker' (every market_tick "
                "carries the latest best bid/ask)"
            )
        self.builder = TickBuilder(self.cfg.conflation_ms, self.cfg.depth_levels, perf_at=self.clock.perf_ns_at)
        self.stale_stop_ms = self.cfg.stale_stream_ms + self.cfg.health.unreachable_threshold_ms
        self.batch_max = env.ctx.queues.batch_max_events
        self.producer = env.ctx.producer(QUEUE, ROLE)
        self.requests = RequestJournal(env.ctx, ROLE)
        self.last_data_ms = self.clock.now_ms()
        self.published = 0
        self._batch: list[dict[str, Any]] = []
        # strategy_role listens to the ticks sparsely (minibot/roles/schedule.py `SPARSE`): a batch rings it only
        # when a tick of it may close a bar, by the rule and over the same tick sequence the strategy uses.
        self.closes = BarCloses(StrategyConfig.from_config(env.config).bar_interval_ms)
        self._urgent = False
        self._soon = False  # a `_publish_soon` is scheduled
        self.feed = MarketFeed(
            self.cfg,
            self.clock,
            on_message=self._on_message,
            on_health=self._on_health,
            on_stop=self._on_stop,
            on_request=self._on_request,
            health_role=ROLE,
            depth_levels=self.cfg.depth_levels,
        )
        env.log.info(
            "market_role: %d symbols, streams %s, ws %s, rest %s, conflation %d ms, depth levels %d",
            len(self.cfg.symbols),
            ",".join(self.cfg.streams),
            self.cfg.ws_base_url,
            self.cfg.rest_base_url,
            self.cfg.conflation_ms,
            self.cfg.depth_levels,
        )
        # A held book is released by a timer at its window's end: on Windows only 1 ms timers keep that on time.
        self.fine_timers = FineTimers(mm if mm is not None else winmm())
        if self.cfg.conflation_ms:
            self.fine_timers.acquire()

    # Feed callbacks (on the event loop; must not block for long) --------------------------------------

    def _on_message(self, message: MarketMessage) -> None:
        now = self.clock.now_ms()
        # System-wide monotonic clock, fine on Windows too (unlike time.time() before Python 3.13): tick ->
        # fill latency across processes, never used by the trading core.
        recv_perf_ns = time.perf_counter_ns()
        self.last_data_ms = now
        held = self.builder.next_due_ms()
        self._add(self.builder.on_message(message, now, recv_perf_ns), now)
        if len(self._batch) >= self.batch_max:
            self._publish_between_rounds()
        elif self._batch and not self._soon:
            # Publish once the frames already received are handled: a callback of the loop's next pass, not
            # a round of the loop (pipeline latency, issue 14).
            self._soon = True
            asyncio.get_running_loop().call_soon(self._publish_soon)
        if self.builder.next_due_ms() != held:
            self.wake.set()  # a book newly held: the loop's sleep must end when its window does

    def _on_request(self, record: RequestRecord) -> None:
        self.requests.append(record)
        self.wake.set()  # the next round journals it

    def _on_health(self, payload: dict[str, Any]) -> None:
        self._state = str(payload["state"])
        extra = {k: v for k, v in payload.items() if k not in _OWN_FIELDS}
        extra["market"] = self.stats()
        self.heartbeat.beat(self._state, force=True, **extra)

    # Publishing --------------------------------------------------------------------------------------

    def _add(self, payloads: list[Payload], now: int) -> None:
        if not payloads:
            return
        event = self.producer.event
        self._batch.extend(event("market_tick", p, ts=now) for p in payloads)
        feed = self.closes.feed
        for p in payloads:
            self._urgent = feed(p["symbol"], now) or self._urgent

    def _publish_soon(self) -> None:
        self._soon = False
        if not self._closed:
            self._publish_between_rounds()

    def _publish_between_rounds(self) -> None:
        """Publish outside the loop's round, without starting one when the batch's fsyncs leave nothing owed.

        Held like a round, the segment and its chain sidecar go to the flusher as one job, at once when the
        last group commit is older than its interval (a quiet market). Only a group commit still owed (a
        burst, or the last job still running) needs the round that sleeps until it is due: the loop's sleep
        began before it was owed."""
        with FLUSHER.held():
            self._publish()
        if commit_owed() is not None:
            self.wake.set()

    def _publish(self) -> None:
        batch, self._batch = self._batch, []
        if batch:
            urgent, self._urgent = self._urgent, False
            for at in range(0, len(batch), self.batch_max):
                self.published += self.producer.publish(batch[at : at + self.batch_max], urgent)

    # AsyncRole ---------------------------------------------------------------------------------------

    async def _work(self) -> ReasonCode | None:
        """Run the feed until `finish()`."""
        return await self.feed.run()

    async def finish(self) -> None:
        """Close the feed; `run()` then returns."""
        await self.feed.close()

    def tick(self) -> float | None:
        """Release conflated books, publish the batch, journal requests, fsync if due, watch for silence.

        Returns the wall seconds until the next held conflated book is due (None: none is held)."""
        now = self.clock.now_ms()
        self._add(self.builder.due(now), now)
        self._publish()
        self.requests.flush()
        self.producer.flush_if_due()
        silent = now - self.last_data_ms
        if silent > self.stale_stop_ms:
            raise NoreError(
                f"no market data for {silent} ms (stream silent and REST fallback failing; threshold "
                f"stale_stream_ms + unreachable_threshold_ms = {self.stale_stop_ms} ms)",
                ReasonCode.MARKET_DATA_STALE,
            )
        due = self.builder.next_due_ms()
        return None if due is None else self.clock.seconds_until(due)

    async def _release(self) -> None:
        """Publish what is held (conflated books included), then release the queue and the journal."""
        try:
            now = self.clock.now_ms()
            self._add(self.builder.flush(now), now)
            self._publish()
        finally:
            self.fine_timers.release()
            self.producer.close()
            self.requests.close()

    def stats(self) -> dict[str, Any]:
        """Counters for health events and metrics."""
        feed = self.feed.stats()
        reconnects = feed["reconnect_ms"]
        return {
            "ticks": self.builder.ticks,
            "book_ticks": self.builder.book_ticks,
            "trade_ticks": self.builder.trade_ticks,
            "conflated": self.builder.conflated,
            "duplicate_trades": self.builder.duplicates,
            "depth_updates": self.builder.depth_updates,
            "depth_out_of_order": self.builder.depth_out_of_order,
            "depth_stale": self.builder.depth_stale,
            "published": self.published,
            "ws_connects": feed["ws_connects"],
            "ws_messages": feed["ws_messages"],
            "ws_malformed": feed["ws_malformed"],
            "reconnects": len(reconnects),
            "reconnect_ms_last": reconnects[-5:],
            "agg_gaps": feed["agg_gaps"],
            "agg_backfilled": feed["agg_backfilled"],
            "agg_unfilled": feed["agg_unfilled"],
            "fallback_polls": feed["fallback_polls"],
            "requests": self.requests.written,
        }


def main(argv: list[str] | None = None) -> int:
    """`python -m minibot.roles.market_role --run-dir RUN_DIR`."""
    return async_role_main(ROLE, MarketRole, argv)


if __name__ == "__main__":
    sys.exit(main())
