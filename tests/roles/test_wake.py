"""When a waiting role wakes (issue 14, item 1): deadlines, the safety net, group commits owed, control rings."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from minibot.journal.atomic import write_critical_json
from minibot.journal.context import scratch_queues
from minibot.journal.doorbell import Doorbell, Ringer, ring_roles
from minibot.journal.segments import FsyncPolicy, SegmentAppender, commit_owed
from minibot.journal.stop import stop_flag_path
from minibot.roles.wake import COMMIT_MARGIN_S, ControlWatch, Waker, WakeTimer
from minibot.runlayout import SHUTDOWN_FILE, role_shutdown_file

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


def test_control_files_are_read_after_a_control_ring_or_at_the_safety_net(tmp_path: Path) -> None:
    """STOP.flag and the shutdown files are not stat'ed on every round: a file that appears without a ring is
    seen at the next safety-net read at the latest, one announced by a control ring at the next round."""
    control = ControlWatch(tmp_path, "risk_role", 0.3)
    control.refresh()  # the first refresh reads the files
    assert not control.stopped and not control.shutdown
    write_critical_json(stop_flag_path(tmp_path), {"x": 1})
    control.refresh()
    assert not control.stopped  # no ring, safety net not due: not looked at
    control.rung()
    control.refresh()
    assert control.stopped
    (tmp_path / "control").mkdir()
    role_shutdown_file(tmp_path, "risk_role").write_bytes(b"")
    control.refresh()
    assert not control.shutdown
    time.sleep(0.35)
    control.refresh()
    assert control.shutdown
    stop_flag_path(tmp_path).unlink()
    control.rung()
    control.refresh()
    assert control.stopped and control.shutdown  # both only ever appear during a run: seen once is enough


def test_a_waker_hands_a_control_ring_to_its_watch(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path, "risk_role")
    control = ControlWatch(tmp_path, "risk_role", 60.0)
    waker = Waker(bell, WakeTimer(QUEUES), control)
    try:
        control.refresh()
        (tmp_path / "control").mkdir()
        (tmp_path / SHUTDOWN_FILE).write_bytes(b"")
        Ringer(tmp_path, ["risk_role"]).ring()  # new lines only
        assert waker.sleep()
        control.refresh()
        assert not control.shutdown
        ring_roles(tmp_path, ["risk_role"])
        assert waker.sleep()
        control.refresh()
        assert control.shutdown
    finally:
        bell.close()
