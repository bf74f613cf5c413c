"""The run clock: real time since the run started, times --speed, added to the run's start (unix ms).

It runs on `time.perf_counter_ns()`: QueryPerformanceCounter on Windows, CLOCK_MONOTONIC on Linux. Both
are fine-grained (well under a microsecond) and system-wide, so one reading means the same instant in
every process of a run: the supervisor records the run's anchor (the perf-counter reading at which the run
clock read `start_ms`) in run.json, and each role and the simulator start their clock on it directly, with
no wall-clock mapping. `time.monotonic()` would not do on Windows before Python 3.13 (GetTickCount64,
15.6 ms steps: ~0.94 s of run clock at --speed 60), nor would a mapping through `time.time()` (also 15.6 ms
there, and stepped by clock synchronisation). Wall time is only the start's label and what is displayed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

NS_PER_MS = 1_000_000


class RunClock:
    """Every `ts` in a run is on this clock, so a `--speed 60` run's journals read like a 7-hour night."""

    def __init__(self, start_ms: int, speed: float = 1.0, anchor_perf_ns: int | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.start_ms = int(start_ms)
        self.speed = float(speed)
        self.anchor_perf_ns = time.perf_counter_ns() if anchor_perf_ns is None else int(anchor_perf_ns)

    @classmethod
    def shared(cls, start_ms: int, speed: float, anchor_unix_s: float, anchor_perf_ns: int | None = None) -> RunClock:
        """The run's clock in another process. `anchor_perf_ns`: the perf-counter reading at which the run
        clock read `start_ms` (run.json's `clock.anchor_perf_ns`), used as it is. Without it (a tool that
        only knows wall time, e.g. the simulator's `--clock-anchor`) `anchor_unix_s`, the wall time of that
        moment, is mapped once onto this process's perf counter."""
        if anchor_perf_ns is not None:
            return cls(start_ms, speed, anchor_perf_ns)
        wall_ago_ns = int((time.time() - anchor_unix_s) * 1e9)
        return cls(start_ms, speed, time.perf_counter_ns() - wall_ago_ns)

    @classmethod
    def from_run(cls, clock: Mapping[str, Any]) -> RunClock:
        """The clock of run.json's `clock` object (`start_ms`, `speed`, `anchor_unix_s`, `anchor_perf_ns`)."""
        perf = clock.get("anchor_perf_ns")
        return cls.shared(
            clock["start_ms"], clock["speed"], clock["anchor_unix_s"], None if perf is None else int(perf)
        )

    @classmethod
    def start_now(cls, speed: float = 1.0) -> RunClock:
        """A clock starting at the current wall time."""
        return cls(int(time.time() * 1000), speed)

    def now_ms(self) -> int:
        """Current run time in unix milliseconds."""
        return self.start_ms + int((time.perf_counter_ns() - self.anchor_perf_ns) * self.speed / NS_PER_MS)

    def perf_ns_at(self, run_ms: float) -> int:
        """The `time.perf_counter_ns()` reading at which this clock reads `run_ms` (past or future)."""
        return self.anchor_perf_ns + int((run_ms - self.start_ms) * NS_PER_MS / self.speed)

    def elapsed_ms(self) -> int:
        """Run-clock milliseconds since the start."""
        return self.now_ms() - self.start_ms

    def real_seconds(self, run_ms: float) -> float:
        """How many real seconds a run-clock duration takes."""
        return run_ms / 1000.0 / self.speed

    def seconds_until(self, run_ms: float) -> float:
        """Real seconds from now until this clock reads `run_ms` (0 when it already has).

        From the perf counter itself, not `run_ms - now_ms()`: `now_ms()` truncates to whole run-clock
        milliseconds, which made every deadline up to 1 ms late (a conflated book's release, issue 14)."""
        return max(0.0, (self.perf_ns_at(run_ms) - time.perf_counter_ns()) / 1e9)
