"""The run clock: wall time since the run started, times --speed, added to the real start time."""

from __future__ import annotations

import time


class RunClock:
    """Every `ts` in a run is on this clock, so a `--speed 60` run's journals read like a 7-hour night."""

    def __init__(self, start_ms: int, speed: float = 1.0, start_monotonic: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.start_ms = int(start_ms)
        self.speed = float(speed)
        self._t0 = time.monotonic() if start_monotonic is None else start_monotonic

    @classmethod
    def shared(cls, start_ms: int, speed: float, anchor_unix_s: float) -> RunClock:
        """The run's clock in another process: `anchor_unix_s` is the wall time at which the run clock read
        `start_ms` (recorded by the supervisor in run.json); mapped once onto this process's monotonic clock."""
        return cls(start_ms, speed, time.monotonic() - (time.time() - anchor_unix_s))

    @classmethod
    def start_now(cls, speed: float = 1.0) -> RunClock:
        """A clock starting at the current wall time."""
        return cls(int(time.time() * 1000), speed)

    def now_ms(self) -> int:
        """Current run time in unix milliseconds."""
        return self.start_ms + int((time.monotonic() - self._t0) * 1000.0 * self.speed)

    def elapsed_ms(self) -> int:
        """Run-clock milliseconds since the start."""
        return self.now_ms() - self.start_ms

    def real_seconds(self, run_ms: float) -> float:
        """How many real seconds a run-clock duration takes."""
        return run_ms / 1000.0 / self.speed
