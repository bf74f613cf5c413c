"""Everything a request handler needs, in one object shared by the REST and WebSocket sides."""

from __future__ import annotations

from dataclasses import dataclass

from minibot.clock import RunClock
from minibot.sim.faults import FaultController
from minibot.sim.hub import Hub
from minibot.sim.market import Market
from minibot.sim.scenario import Scenario
from minibot.sim.stats import Stats
from minibot.sim.weights import RateLimiter


@dataclass
class SimContext:
    """The simulator's shared state."""

    clock: RunClock
    market: Market
    hub: Hub
    faults: FaultController
    stats: Stats
    limiter: RateLimiter
    scenario: Scenario
    seed: int

    def now(self) -> int:
        """Run-clock now (unskewed: skew only shows in serverTime)."""
        return self.clock.now_ms()

    def sync(self) -> int:
        """Advance the market to now, so REST answers and streams describe the same instant."""
        now = self.clock.now_ms()
        self.hub.view = self.faults.stream_view()
        self.market.advance_to(now)
        return now
