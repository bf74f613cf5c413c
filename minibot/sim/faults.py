"""Applying a scenario at run time: what a REST request or a stream message suffers right now, and the
edge-triggered actions (drop WebSockets, take the listener down and up) a background task performs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from minibot.clock import RunClock
from minibot.sim.scenario import Fault, Scenario
from minibot.sim.stats import Stats

_EDGE_POLL_S = 0.005


@dataclass(frozen=True)
class RestFault:
    """What to do to one REST request: wait `delay_s` wall seconds, then maybe answer `status` instead."""

    delay_s: float = 0.0
    status: int = 0
    retry_after_s: int = 0


@dataclass(frozen=True)
class StreamView:
    """Stream faults in force during one pump iteration."""

    silent: tuple[Fault, ...] = ()
    malformed: tuple[Fault, ...] = ()
    latency_s: float = 0.0
    stale_book: tuple[Fault, ...] = ()

    def is_stale_book(self, symbol: str) -> bool:
        """True when this symbol's depth streams must repeat an old book (partial) or pause (diff)."""
        return any(f.matches_symbol(symbol) for f in self.stale_book)

    def is_silent(self, symbol: str) -> bool:
        """True when this symbol's streams must send nothing."""
        return any(f.matches_symbol(symbol) for f in self.silent)

    def malformed_every(self, symbol: str) -> int:
        """Every how many messages a malformed frame goes out for this symbol (0 = never)."""
        for f in self.malformed:
            if f.matches_symbol(symbol):
                return int(f.params["every_n"])
        return 0


class FaultController:
    """Answers "which faults are active" against the run clock and runs the edge-triggered ones."""

    def __init__(self, scenario: Scenario, clock: RunClock, stats: Stats, seed: int) -> None:
        self.scenario = scenario
        self.clock = clock
        self.stats = stats
        self._rng = random.Random(seed)
        self.outage = False

    def elapsed(self) -> int:
        """Run-clock ms since start."""
        return self.clock.elapsed_ms()

    def active(self, kind: str | None = None) -> list[Fault]:
        """Faults whose window contains the current run instant."""
        e = self.elapsed()
        return [f for f in self.scenario.faults if (kind is None or f.kind == kind) and f.occurrence(e) is not None]

    def skew_ms(self) -> int:
        """Server clock offset in force (sum of active clock_skew faults)."""
        return sum(int(f.params["offset_ms"]) for f in self.active("clock_skew"))

    def rest(self, path: str) -> RestFault:
        """Latency and injected error status for a REST request to `path` now."""
        delay_ms = 0.0
        status = 0
        retry = 0
        for f in self.active():
            if f.kind not in ("latency", "http_5xx", "http_429") or not f.matches_path(path):
                continue
            if f.kind == "latency" and f.params["target"] in ("rest", "both"):
                delay_ms += f.params["delay_ms"] + self._rng.random() * f.params["jitter_ms"]
                self.stats.faults_injected["latency"] += 1
            elif f.kind in ("http_5xx", "http_429") and not status and self._rng.random() < f.params["probability"]:
                status = int(f.params["status"])
                retry = int(f.params.get("retry_after_s", 0))
                self.stats.faults_injected[f.kind] += 1
        return RestFault(self.clock.real_seconds(delay_ms), status, retry)

    def stream_view(self) -> StreamView:
        """Stream faults in force now."""
        active = self.active()
        delay_ms = sum(
            f.params["delay_ms"] + self._rng.random() * f.params["jitter_ms"]
            for f in active
            if f.kind == "latency" and f.params["target"] in ("ws", "both")
        )
        return StreamView(
            silent=tuple(f for f in active if f.kind == "silent_stream"),
            malformed=tuple(f for f in active if f.kind == "malformed_frames"),
            stale_book=tuple(f for f in active if f.kind == "stale_book"),
            latency_s=self.clock.real_seconds(delay_ms),
        )

    def ws_blocked(self) -> Fault | None:
        """The ws_disconnect window in force, if any: connections opened now are dropped at once."""
        blocking = self.active("ws_disconnect")
        return blocking[0] if blocking else None

    async def run_edges(
        self,
        drop_ws: Callable[[Fault], Awaitable[None]],
        outage_start: Callable[[Fault], Awaitable[None]],
        outage_end: Callable[[], Awaitable[None]],
    ) -> None:
        """Forever: at each window start of ws_disconnect / outage, and each outage end, call the action.

        Window starts are counted, not sampled, so a window shorter than the poll period still fires.
        """
        edge_faults = [f for f in self.scenario.faults if f.kind in ("ws_disconnect", "outage")]
        if not edge_faults:
            return
        fired = [0] * len(edge_faults)
        while True:
            e = self.elapsed()
            for idx, f in enumerate(edge_faults):
                started = f.starts_until(e)
                if started == fired[idx]:
                    continue
                fired[idx] = started
                self.stats.faults_injected[f.kind] += 1
                if f.kind == "ws_disconnect":
                    await drop_ws(f)
                elif not self.outage:
                    self.outage = True
                    await outage_start(f)
            if self.outage and not any(f.kind == "outage" and f.occurrence(e) is not None for f in edge_faults):
                self.outage = False
                await outage_end()
            await asyncio.sleep(_EDGE_POLL_S)
