"""A process's journal writes become durable causes first (minibot/journal/ordering.py): ranks over write order,
`always` and flushes after everything written before, no write riding on an fsync already running, a caused
line only after its causes, and the inputs read before what names them."""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.ordering import ACK, INPUT, LOG, WriteOrder, using
from minibot.journal.segments import FsyncPolicy, SegmentAppender

REAL_FSYNC = os.fsync
GROUP = FsyncPolicy.parse("group:200ms")
PAST_INTERVAL_S = 0.25


def _record(monkeypatch: pytest.MonkeyPatch, root: Path, *, writes: bool = False) -> list[str]:
    """Record each fsync (and with `writes`, each write) as `<op> <path under root>`; the real calls still run."""
    seen: list[str] = []
    real_write = os.write

    def name(fd: int) -> str:
        return Path(os.path.relpath(os.readlink(f"/proc/self/fd/{fd}"), root)).as_posix()

    def fsync(fd: int) -> None:
        seen.append(f"fsync {name(fd)}")
        REAL_FSYNC(fd)

    def write(fd: int, data: bytes) -> int:
        seen.append(f"write {name(fd)}")
        return real_write(fd, data)

    monkeypatch.setattr(os, "fsync", fsync)
    if writes:
        monkeypatch.setattr(os, "write", write)
    return seen


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file names from /proc/self/fd")


def _appender(folder: Path, stem: str, policy: FsyncPolicy = GROUP, rank: int | None = None) -> SegmentAppender:
    appender = (
        SegmentAppender(folder, stem, policy, 1 << 20)
        if rank is None
        else SegmentAppender(folder, stem, policy, 1 << 20, rank)
    )
    appender.sync_to_newest()
    return appender


def _wait_jobs(order: WriteOrder) -> None:
    for job in list(order._jobs):
        job.wait()


def test_a_group_commit_takes_every_owed_file_ranks_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ack written before the input-log line of the next batch is still fsynced after it: the acks name
    logged lines, whatever the interleaving. One job for all, although only one file fell due."""
    with using(WriteOrder()) as order:
        acks = _appender(tmp_path, "acks", rank=ACK)
        out = _appender(tmp_path, "out")
        time.sleep(PAST_INTERVAL_S)
        log = _appender(tmp_path, "log", FsyncPolicy.parse("group:10000ms"), LOG)
        seen = _record(monkeypatch, tmp_path)
        acks.append(b"a\n")  # due at once: the file was opened an interval ago
        _wait_jobs(order)
        assert seen == ["fsync acks.jsonl"]
        acks.append(b"b\n")  # not due again yet
        log.append(b"l\n")  # never due by itself
        out.append(b"o\n")
        time.sleep(PAST_INTERVAL_S)
        order.commit_owed()
        _wait_jobs(order)
        assert seen[1:] == ["fsync log.jsonl", "fsync out.jsonl", "fsync acks.jsonl"]
        for appender in (acks, out, log):
            appender.close()


def test_an_always_write_comes_after_its_causes_are_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The input log is fsynced before the fill is even written (the kernel may write a page back at once);
    an ack written before is not: nothing depends on it being durable with the fill, and the fill path is
    the latency target."""
    with using(WriteOrder()):
        log = _appender(tmp_path, "log", FsyncPolicy.parse("group:10000ms"), LOG)
        acks = _appender(tmp_path, "acks", FsyncPolicy.parse("group:10000ms"), ACK)
        fills = _appender(tmp_path, "fills", FsyncPolicy.parse("always"))
        seen = _record(monkeypatch, tmp_path, writes=True)
        log.append(b"l\n")
        acks.append(b"a\n")
        fills.append(b"f\n")
        assert seen == [
            "write log.jsonl",
            "write acks.jsonl",
            "fsync log.jsonl",
            "write fills.jsonl",
            "fsync fills.jsonl",
        ]
        assert log.durable_ns() is not None and acks.durable_ns() is None
        for appender in (log, acks, fills):
            appender.close()


def test_a_write_to_a_file_on_the_flusher_first_makes_its_owed_causes_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else the running fsync would make the new line durable ahead of the input-log line written before it.
    With no cause owed, the write rides on that fsync at once (market_role's ticks). Nobody waits for the
    flusher thread."""
    release = threading.Event()
    inline: list[str] = []

    def fsync(fd: int) -> None:
        if threading.current_thread().name == "nore-fsync":
            assert release.wait(10)
        else:
            inline.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        REAL_FSYNC(fd)

    with using(WriteOrder()) as order:
        out = _appender(tmp_path, "out")
        log = _appender(tmp_path, "log", FsyncPolicy.parse("group:10000ms"), LOG)
        time.sleep(PAST_INTERVAL_S)
        monkeypatch.setattr(os, "fsync", fsync)
        try:
            out.append(b"1\n")  # due: its fsync goes to the flusher, which holds it
            out.append(b"2\n")  # no cause owed: written at once, nothing fsynced inline
            assert inline == [] and out._job is not None
            log.append(b"l\n")
            out.append(b"3\n")  # the log line first
            assert inline == ["log.jsonl"] and (tmp_path / "out.jsonl").read_bytes() == b"1\n2\n3\n"
        finally:
            release.set()
        _wait_jobs(order)
        out.close()
        log.close()


def test_a_failed_inline_fsync_raises_and_leaves_the_files_owed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with using(WriteOrder()) as order:
        log = _appender(tmp_path, "log", FsyncPolicy.parse("group:10000ms"), LOG)
        log.append(b"l\n")

        def fail(fd: int) -> None:
            raise OSError(errno.EIO, "I/O error")

        monkeypatch.setattr(os, "fsync", fail)
        with pytest.raises(OSError, match="I/O error"):
            log.flush()
        assert log._pending and log.durable_ns() is None
        monkeypatch.setattr(os, "fsync", REAL_FSYNC)
        order.barrier()
        assert not log._pending
        log.close()


def _ctx(run_dir: Path) -> RunContext:
    return RunContext(run_dir, "20261128_121212", "f" * 64, lambda: 1_700_000_000_000, scratch_queues())


def test_a_caused_line_is_written_after_its_causes_are_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule 3: a consumer may fsync any line it reads, so a core output becomes visible only once the inputs
    it was computed from and the input log naming them are durable; a line with no cause waits for nothing."""
    ctx = _ctx(tmp_path)
    with using(WriteOrder()):
        market = ctx.producer("market_ticks", "market_role", fsync="group:10000ms")
        market.publish([market.event("market_tick", EXAMPLE_PAYLOADS["market_tick"])])
    with using(WriteOrder()):
        ticks = ctx.consumer("market_ticks", "strategy_role")
        log = _appender(tmp_path, "log", FsyncPolicy.parse("group:10000ms"), LOG)
        signals = ctx.producer("signals", "strategy_role", fsync="group:10000ms")
        seen = _record(monkeypatch, tmp_path, writes=True)
        (tick,) = ticks.poll()
        log.append(b"l\n")
        payload = {**EXAMPLE_PAYLOADS["signal"], "cause_id": tick.event["id"]}
        signals.publish([signals.event("signal", payload)])
        tick_file, signal_file = (f"{ctx.queues.base_dir}/{q}/inbox.jsonl" for q in ("market_ticks", "signals"))
        at = seen.index
        assert at("write log.jsonl") < at(f"fsync {tick_file}") < at("fsync log.jsonl") < at(f"write {signal_file}")
        assert f"fsync {signal_file}" not in seen  # the output itself waits for its group commit
        for closing in (ticks, signals, log):
            closing.close()
    market.close()


def test_an_input_is_fsynced_through_a_descriptor_open_for_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows' FlushFileBuffers refuses a read-only handle: the input segment a consumer read is fsynced
    through a descriptor opened for appending (never written to), before the acks that name its lines."""
    ctx = _ctx(tmp_path)
    with using(WriteOrder()):
        market = ctx.producer("market_ticks", "market_role", fsync="group:10000ms")
        market.publish([market.event("market_tick", EXAMPLE_PAYLOADS["market_tick"])])
    modes: list[int] = []

    def fsync(fd: int) -> None:
        modes.append(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE)
        REAL_FSYNC(fd)

    with using(WriteOrder()) as order:
        ticks = ctx.consumer("market_ticks", "strategy_role")
        entry = ticks._input
        assert entry.rank == INPUT
        ticks.poll()
        assert entry._pending
        monkeypatch.setattr(os, "fsync", fsync)
        order.barrier()
        assert modes == [os.O_WRONLY]
        ticks.close()
    market.close()
