"""When a waiting role wakes (issue 14, item 1): deadlines, the safety net, and group commits owed."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from minibot.journal.context import scratch_queues
from minibot.journal.segments import FsyncPolicy, SegmentAppender, commit_owed
from minibot.roles.wake import COMMIT_MARGIN_S, Waker, WakeTimer

QUEUES = replace(scratch_queues(), poll_interval_ms=500)


def test_the_nearest_deadline_wins_and_the_safety_net_bounds_everything() -> None:
    timer = WakeTimer(QUEUES)
    assert timer.before_sleep() == 0.5
    assert timer.before_sleep(None, 2.0) == 0.5
    assert timer.before_sleep(0.2, None, 0.3) == 0.2
    assert timer.before_sleep(-1.0) == 0.0  # overdue: no sleep at all


def test_a_group_commit_owed_is_made_when_due_and_bounds_the_sleep(tmp_path: Path) -> None:
    appender = SegmentAppender(tmp_path, "inbox", FsyncPolicy.parse("group:200ms"), 1 << 20)
    try:
        appender.sync_to_newest()
        appender.append(b"a\n")  # written within the interval of the file's opening: the fsync waits
        owed = commit_owed()
        assert owed is not None and 0.0 < owed <= 0.2
        assert 0.0 < WakeTimer(QUEUES).before_sleep() <= 0.2 + COMMIT_MARGIN_S
        time.sleep(0.25)
        assert commit_owed() is None  # made now: nothing owed, so the sleep is the safety net again
        assert WakeTimer(QUEUES).before_sleep() == 0.5
    finally:
        appender.close()


def test_a_waker_without_a_doorbell_sleeps_the_timeout() -> None:
    waker = Waker(None, WakeTimer(replace(QUEUES, poll_interval_ms=50)))
    t0 = time.monotonic()
    assert not waker.sleep()
    assert time.monotonic() - t0 >= 0.045
