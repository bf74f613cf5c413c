"""Noticing that the machine slept: a gap in the supervisor's own time that no loop step explains.

A thread observes three clocks every `STEP_S`, and the watch loop observes them too before it trusts any
other clock reading: the monotonic clock (advances during sleep on Windows, not on Linux), the boot clock
(Linux `CLOCK_BOOTTIME`: advances during suspend; the monotonic clock elsewhere) and the wall clock. When
any of them moved more than the bound between two observations, nothing in this process ran for that long:
the machine was asleep or hibernating (or the process was paused, or the wall clock was set). That is STOP
MACHINE_SUSPENDED, raised before the watchdog judges any heartbeat (every role would look silent), and
named as the cause when a role's STOP (MARKET_DATA_STALE, BINANCE_UNREACHABLE...) raced it on resume.

The bound is `SUSPEND_GAP_RUN_S` of run clock (what the run's own stale / silence bounds are built on),
never less than `SUSPEND_MIN_WALL_S` of wall time: a loaded machine may delay a thread, not by seconds.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minibot.journal.stop import read_stop
from minibot.reasons import NoreError, ReasonCode
from minibot.rolenames import Role
from minibot.watchdog.watch import Finding

STEP_S = 0.1
SUSPEND_GAP_RUN_S = 30.0
SUSPEND_MIN_WALL_S = 3.0
CLOCK_NAMES = ("monotonic", "boot clock", "wall clock")

Clocks = Callable[[], tuple[float, float, float]]


def read_clocks() -> tuple[float, float, float]:
    """(monotonic, boot clock, wall clock) seconds."""
    mono = time.monotonic()
    if sys.platform == "linux":
        return mono, time.clock_gettime(time.CLOCK_BOOTTIME), time.time()
    return mono, mono, time.time()


def gap_bound_s(speed: float) -> float:
    """Wall seconds without any observation that mean the machine was suspended, at this `--speed`."""
    return max(SUSPEND_MIN_WALL_S, SUSPEND_GAP_RUN_S / speed)


@dataclass(frozen=True)
class Suspension:
    """A gap found: how long, by which clock, and the run clock at its start."""

    gap_s: float
    moved: tuple[float, float, float]
    from_ms: int

    def detail(self, bound_s: float) -> str:
        """The STOP detail: what happened, in figures."""
        clocks = ", ".join(f"{name} +{d:.1f} s" for name, d in zip(CLOCK_NAMES, self.moved, strict=True))
        return (
            f"nothing in the supervisor ran for {self.gap_s:.1f} s ({clocks}; bound {bound_s:g} s): the machine "
            "was asleep or hibernating (or the process was paused, or the wall clock was set)"
        )


class SuspendWatch:
    """Observes the clocks from its own thread and from the watch loop; see the module docstring."""

    def __init__(self, bound_s: float, now_ms: Callable[[], int], clocks: Clocks = read_clocks) -> None:
        self.bound_s = bound_s
        self.now_ms = now_ms
        self.clocks = clocks
        self.found: Suspension | None = None
        self.reported = False  # finding() returned it: the supervisor STOPped on it
        self._last: tuple[tuple[float, float, float], int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nore-suspend", daemon=True)

    def start(self) -> None:
        """Begin observing (the first observation is the baseline)."""
        self.observe()
        self._thread.start()

    def close(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)

    def _run(self) -> None:
        while not self._stop.wait(STEP_S):
            self.observe()

    def observe(self) -> None:
        """One observation; the first gap beyond the bound is kept."""
        with self._lock:
            now = self.clocks()
            if self._last is not None and self.found is None:
                before, from_ms = self._last
                moved = (now[0] - before[0], now[1] - before[1], now[2] - before[2])
                gap = max(moved)
                if gap > self.bound_s:
                    self.found = Suspension(gap, moved, from_ms)
            self._last = (now, self.now_ms())

    def finding(self) -> Finding | None:
        """MACHINE_SUSPENDED, once, after a gap was seen (observes first: the thread may not have run since)."""
        self.observe()
        if self.found is None or self.reported:
            return None
        self.reported = True
        return ReasonCode.MACHINE_SUSPENDED, self.found.detail(self.bound_s)

    def cause(self, run_dir: Path, stop_event: dict[str, Any] | None) -> dict[str, Any] | None:
        """The STOP the run reports as its cause (see `suspension_cause`)."""
        if not self.reported or self.found is None:
            return stop_event
        return suspension_cause(run_dir, stop_event, self.found, self.found.detail(self.bound_s))


def suspension_cause(
    run_dir: Path, stop_event: dict[str, Any] | None, suspension: Suspension, detail: str
) -> dict[str, Any] | None:
    """The STOP the run reports as its cause: the suspension when STOP.flag holds a STOP raised after the
    suspension began (a role that resumed first raced the supervisor); else the STOP the flag holds."""
    if stop_event is None or stop_event.get("reason_code") == ReasonCode.MACHINE_SUSPENDED:
        return stop_event
    try:
        held_ts = int(read_stop(run_dir)["ts"])
    except (NoreError, OSError, KeyError, TypeError, ValueError):
        held_ts = suspension.from_ms  # an unreadable flag: the suspension is the one cause known for sure
    if held_ts < suspension.from_ms:
        return stop_event  # the run had already STOPped for another reason
    first = f"{stop_event.get('reason_code')} from {stop_event.get('component')}: {stop_event.get('detail')}"
    return {
        "reason_code": ReasonCode.MACHINE_SUSPENDED.value,
        "component": Role.WATCHDOG.value,
        "detail": detail,
        "followed_by": first,
    }
