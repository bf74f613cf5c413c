"""Shared helpers for the market tests."""

from __future__ import annotations

import pytest

from minibot.clock import RunClock


class SteppedClock(RunClock):
    """A run clock whose time only moves when a test says so (for the pure, time-driven parts)."""

    def __init__(self, start_ms: int = 1_700_000_000_000, speed: float = 1.0) -> None:
        super().__init__(start_ms, speed, anchor_perf_ns=0)
        self.t = start_ms

    def now_ms(self) -> int:
        return self.t

    def advance(self, ms: int) -> None:
        self.t += ms


@pytest.fixture
def clock() -> SteppedClock:
    """A stepped run clock at a fixed start."""
    return SteppedClock()
