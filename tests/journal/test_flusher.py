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
    while appender._job is not None and time.monotonic() < deadline:
        time.sleep(0.001)
    assert appender._job is None


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


def test_a_close_fsyncs_inline_what_is_on_the_flusher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A close is a flush: what it fsyncs includes the file whose group commit the flusher still runs (on a
    duplicate of the descriptor), inline, without waiting for the flusher thread."""
    release = threading.Event()

    def hold() -> None:
        if threading.current_thread().name == "nore-fsync":
            assert release.wait(10)

    threads = _spy(monkeypatch, hold)
    appender = SegmentAppender(tmp_path, "inbox", GROUP, 1 << 20)
    try:
        appender.sync_to_newest()
        appender.append(b"a\n")
        time.sleep(PAST_INTERVAL_S)
        appender.append(b"b\n")
        assert appender._job is not None
        closer = threading.Thread(target=appender.close, name="closer")
        closer.start()
        closer.join(10)
        assert not closer.is_alive() and "closer" in threads
    finally:
        release.set()
    _settle(appender)
    assert appender._sync_error is None and "nore-fsync" in threads


def test_a_held_round_hands_its_fsyncs_over_as_one_job_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside `FLUSHER.held()` (a role's round) no group commit starts until the block ends; then the flusher
    thread fsyncs every file of the round, in the order they were written."""
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
    with FLUSHER.held():
        for appender in files:
            appender.append(b"x\n")  # due, held back
            appender.flush_if_due()
        time.sleep(PAST_INTERVAL_S)
        assert order == []
    for appender in files:
        _settle(appender)
    assert [names[ino] for ino in order] == ["log", "out", "acks"]
    for appender in files:
        appender.close()
