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
"""

from __future__ import annotations

import time

from minibot.config.views import QueuesConfig
from minibot.journal.doorbell import Doorbell
from minibot.journal.segments import commit_owed

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


class Waker:
    """A role process's sleep: on its doorbell when it has one (plain sleep otherwise), for `WakeTimer`'s time."""

    def __init__(self, bell: Doorbell | None, timer: WakeTimer) -> None:
        self.bell = bell
        self.timer = timer

    def sleep(self, *deadlines_s: float | None) -> bool:
        """Sleep until a ring or the nearest deadline; True when rung."""
        return self.pause(self.timer.before_sleep(*deadlines_s))

    def pause(self, timeout_s: float) -> bool:
        """Sleep until a ring or `timeout_s`; True when rung."""
        if self.bell is not None:
            return self.bell.wait(timeout_s)
        if timeout_s > 0:
            time.sleep(timeout_s)
        return False

    def drain(self) -> bool:
        """Consume the rings received so far (True if there was one): the round about to start reads
        whatever they announced, so a ring that arrived during the previous round costs no extra round."""
        return self.bell is not None and self.bell.drain()

    def close(self) -> None:
        """Close the doorbell."""
        if self.bell is not None:
            self.bell.close()
