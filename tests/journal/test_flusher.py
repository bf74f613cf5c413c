"""Group commit fsyncs run on the flusher thread; `always` and explicit flushes stay inline; errors come back."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from minibot.journal.flusher import FLUSHER
from minibot.journal.segments import FsyncPolicy, SegmentAppender

REAL_FSYNC = os.fsync
GROUP = FsyncPolicy.parse("group:200ms")
PAST_INTERVAL_S = 0.25


def _spy(monkeypatch: pytest.MonkeyPatch, before: Callable[[], None] = lambda: None) -> list[str]:
    """Record which thread runs each fsync (the real one still runs after `before`)."""
    threads: list[str] = []

    def fsync(fd: int) -> None:
        threads.append(threading.current_thread().name)
        before()
        REAL_FSYNC(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return threads


def _settle(appender: SegmentAppender) -> None:
    deadline = time.monotonic() + 10
    while appender._in_flight and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not appender._in_flight


def test_group_commit_fsyncs_on_the_flusher_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads = _spy(monkeypatch)
    appender = SegmentAppender(tmp_path, "inbox", GROUP, 1 << 20)
    appender.sync_to_newest()
    appender.append(b"a\n")
    time.sleep(PAST_INTERVAL_S)
    appender.append(b"b\n")  # due: handed to the flusher, the writer does not wait
    _settle(appender)
    appender.append(b"c\n")
    time.sleep(PAST_INTERVAL_S)
    appender.flush_if_due()  # the idle tick of a dirty file
    _settle(appender)
    assert len(threads) >= 2 and set(threads) == {"nore-fsync"}
    appender.close()
    assert (tmp_path / "inbox.jsonl").read_bytes() == b"a\nb\nc\n"


def test_always_and_explicit_flushes_stay_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads = _spy(monkeypatch)
    always = SegmentAppender(tmp_path, "always", FsyncPolicy.parse("always"), 1 << 20)
    always.sync_to_newest()
    always.append(b"a\n")
    group = SegmentAppender(tmp_path, "group", FsyncPolicy.parse("group:10000ms"), 1 << 20)
    group.sync_to_newest()
    group.append(b"a\n")
    group.flush()  # the acks a cursor checkpoint names are on disk before it is
    assert threads == [threading.current_thread().name] * 2
    always.close()
    group.close()


def test_a_failed_background_fsync_is_raised_to_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        if threading.current_thread().name == "nore-fsync":
            raise OSError(errno.EIO, "I/O error")

    _spy(monkeypatch, fail)
    appender = SegmentAppender(tmp_path, "inbox", GROUP, 1 << 20)
    appender.sync_to_newest()
    with pytest.raises(OSError, match="I/O error"):  # on the first write or flush after the failure
        appender.append(b"a\n")
        time.sleep(PAST_INTERVAL_S)
        appender.flush_if_due()
        _settle(appender)
        appender.append(b"b\n")
    appender.close()


def test_the_writer_may_close_while_its_fsync_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = threading.Event()

    def wait_for_close() -> None:
        if threading.current_thread().name == "nore-fsync":
            assert closed.wait(10)

    threads = _spy(monkeypatch, wait_for_close)
    appender = SegmentAppender(tmp_path, "inbox", GROUP, 1 << 20)
    appender.sync_to_newest()
    appender.append(b"a\n")
    time.sleep(PAST_INTERVAL_S)
    appender.append(b"b\n")
    assert appender._in_flight
    appender.close()  # closes its own descriptor; the flusher holds a duplicate
    closed.set()
    _settle(appender)
    assert appender._sync_error is None
    assert "nore-fsync" in threads


def test_a_held_round_hands_its_fsyncs_over_as_one_job_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside `FLUSHER.held()` (a role's round) nothing is fsynced until the block ends; then the flusher
    thread fsyncs every file of the round, in the order they were written. Another thread's fsync is not
    held back by the block."""
    order: list[int] = []
    names: dict[int, str] = {}

    def fsync(fd: int) -> None:
        order.append(os.fstat(fd).st_ino)
        REAL_FSYNC(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    files = [SegmentAppender(tmp_path, stem, GROUP, 1 << 20) for stem in ("log", "out", "acks")]
    for appender in files:
        appender.sync_to_newest()
        names[os.fstat(appender._fd or -1).st_ino] = appender.stem
    time.sleep(PAST_INTERVAL_S)
    other = SegmentAppender(tmp_path, "other", GROUP, 1 << 20)
    other.sync_to_newest()
    with FLUSHER.held():
        for appender in files:
            appender.append(b"x\n")  # due: asked for, held
        time.sleep(PAST_INTERVAL_S)
        assert order == []
        thread = threading.Thread(target=lambda: (time.sleep(PAST_INTERVAL_S), other.append(b"y\n")))
        thread.start()
        thread.join()
        _settle(other)  # not held: another thread's
        assert len(order) == 1
    for appender in files:
        _settle(appender)
    assert [names.get(ino, "other") for ino in order] == ["other", "log", "out", "acks"]
    for appender in [*files, other]:
        appender.close()
