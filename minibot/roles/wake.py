"""When a waiting role process wakes up: at a doorbell ring, at its next deadline, or at the safety net.

A role with nothing to do sleeps on its doorbell (minibot/journal/doorbell.py): a producer rings it right
after appending to a queue it reads, a STOP and the supervisor's shutdown request ring it too. Besides the
rings a role has deadlines of its own, and the sleep ends at the nearest one:
- its next heartbeat (run-clock interval, converted to wall time);
- a group commit owed: a `group:<N>ms` file of the process written but not yet fsynced is fsynced when
  its interval has passed (`journal.segments.commit_owed`, before every sleep);
- whatever the role asks for (market_role: the end of a conflation window);
- the safety net `queues.poll_interval_ms`: a lost ring costs at most this much latency, and any file
  condition nobody rings for (an operator's file, a clock step) is seen within it.

The control files (STOP.flag, `control/shutdown`, `control/shutdown.<role>`) are looked at by `ControlWatch`
only when they may have changed: after a control ring (their writers ring every role they concern:
minibot/journal/doorbell.py) and otherwise at most every safety-net interval. Before, every round stat'ed
them four to eight times (issue 14, idle cost: a third of a busy round's system calls). Both kinds of file
only ever appear during a run, so once seen they are not looked at again.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from minibot.config.views import QueuesConfig
from minibot.journal.doorbell import Doorbell
from minibot.journal.segments import commit_owed
from minibot.journal.stop import stop_flag_path
from minibot.runlayout import SHUTDOWN_FILE, role_shutdown_file

# Wake this much after a group commit falls due, so that the interval has surely passed when the role looks.
COMMIT_MARGIN_S = 0.001


class WakeTimer:
    """How long a role may sleep now: the nearest of its deadlines, a group commit it owes, the safety net."""

    def __init__(self, queues: QueuesConfig) -> None:
        self.safety_s = queues.poll_interval_ms / 1000.0

    def before_sleep(self, *deadlines_s: float | None) -> float:
        """Make the group commits that are due, then return how long to sleep: the smallest of `deadlines_s`
        (seconds from now; None = none), the next group commit owed and the safety net; never negative."""
        wait = self.safety_s
        owed = commit_owed()
        if owed is not None:
            wait = min(wait, owed + COMMIT_MARGIN_S)
        for due in deadlines_s:
            if due is not None and due < wait:
                wait = due
        return max(0.0, wait)


def shutdown_names(run_dir: Path, role: str | None) -> tuple[str, ...]:
    """The files whose existence asks every role (or this `role`) to finish."""
    names = [run_dir / SHUTDOWN_FILE] + ([role_shutdown_file(run_dir, role)] if role is not None else [])
    return tuple(str(name) for name in names)


def shutdown_requested(run_dir: Path, role: str | None = None) -> bool:
    """The supervisor asked every role (or this `role`) to finish: not a STOP (the supervisor's check after a
    role ended; a running role reads the same files through `ControlWatch`)."""
    return any(os.path.exists(name) for name in shutdown_names(run_dir, role))


class ControlWatch:
    """Whether STOP.flag exists and whether the supervisor asked this role (or every role) to end, from the
    files themselves, re-read at `refresh()` only after a control ring (`rung()`) or when `safety_s` has passed
    since they were last read. Without a doorbell (`safety_s` 0) every `refresh()` reads them."""

    def __init__(self, run_dir: Path, role: str | None, safety_s: float) -> None:
        self._flag = str(stop_flag_path(run_dir))
        self._shutdown_names = shutdown_names(run_dir, role)
        self.safety_s = safety_s
        self.stopped = False
        self.shutdown = False
        self._rung = True  # the first refresh reads the files
        self._next = 0.0

    def rung(self) -> None:
        """A control ring arrived: the next `refresh()` reads the files."""
        self._rung = True

    def refresh(self) -> None:
        """Re-read the control files if a control ring came or the safety net is due."""
        now = time.monotonic()
        if not (self._rung or now >= self._next):
            return
        self._rung = False
        self._next = now + self.safety_s
        if not self.stopped:
            self.stopped = os.path.exists(self._flag)
        if not self.shutdown:
            self.shutdown = any(os.path.exists(name) for name in self._shutdown_names)


@dataclass(frozen=True, slots=True)
class Rings:
    """What the rings since a role's last look named: the input queues with new lines, the peers whose
    market_ticks watermark advanced (a role's `skips` decides whether they need a round)."""

    queues: frozenset[str] = frozenset()
    marks: frozenset[str] = frozenset()


class Waker:
    """A role process's sleep: on its doorbell when it has one (plain sleep otherwise), for `WakeTimer`'s time;
    and its `control` files, re-read after a control ring or at the safety net."""

    def __init__(self, bell: Doorbell | None, timer: WakeTimer, control: ControlWatch | None = None) -> None:
        self.bell = bell
        self.timer = timer
        self.control = control
        self._announced = False  # a control ring, or a new-lines ring naming no queue, since `take_rings`
        self._queues: set[str] = set()  # the queues whose new-lines rings came since `take_rings`
        self._marks: set[str] = set()  # the peers whose watermark rings came since `take_rings`

    def sleep(self, *deadlines_s: float | None) -> bool:
        """Sleep until a ring or the nearest deadline; True when rung."""
        return self.pause(self.timer.before_sleep(*deadlines_s))

    def pause(self, timeout_s: float) -> bool:
        """Sleep until a ring or `timeout_s`; True when rung."""
        if self.bell is not None:
            rung = self.bell.wait(timeout_s)
            self._collect()
            return rung
        if timeout_s > 0:
            time.sleep(timeout_s)
        return False

    def drain(self) -> bool:
        """Consume the rings received so far (True if there was one): the round about to start reads
        whatever they announced, so a ring that arrived during the previous round costs no extra round."""
        if self.bell is None:
            return False
        rung = self.bell.drain()
        self._collect()
        return rung

    def take_rings(self) -> Rings | None:
        """What the rings received since the last call announced: None when a control file or new lines of
        an unnamed queue (the role must look), else the queues and the peers' watermarks they name (maybe
        none: the sleep timed out)."""
        announced = self._announced
        rings = Rings(frozenset(self._queues), frozenset(self._marks))
        self._announced = False
        self._queues.clear()
        self._marks.clear()
        return None if announced else rings

    def _collect(self) -> None:
        if self.bell is None:
            return
        control = self.bell.take_control()
        if control and self.control is not None:
            self.control.rung()
        queues, marks = self.bell.take_rings()
        self._announced = self._announced or control or "" in queues
        self._queues |= queues
        self._marks |= marks

    def close(self) -> None:
        """Close the doorbell."""
        if self.bell is not None:
            self.bell.close()
