"""A queue's durable watermark: consumers skip the fsync of input bytes their producer made durable, and only
those (minibot/journal/watermark.py). tests/journal/test_power_cut.py cuts a run that relies on it at every point."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.layout import INBOX
from minibot.journal.ordering import WriteOrder, using
from minibot.journal.producer import Producer
from minibot.journal.segments import segment_path
from minibot.journal.watermark import MarkReader, MarkWriter, decode, encode, mark_path

RUN_ID = "20261128_121212"
HASH = "d" * 64


def test_mark_line_round_trips_and_a_damaged_one_is_no_mark() -> None:
    line = encode(3, 123456)
    assert decode(line) == (3, 123456)
    assert decode(line[:-3]) is None  # torn
    assert decode(line[:10] + encode(0, 999)[10:]) is None  # two writers interleaved
    assert decode(line.replace(b"123456", b"123457")) is None  # CRC
    assert decode(b"") is None


def test_a_mark_covers_its_segment_up_to_its_offset_and_every_earlier_segment(tmp_path: Path) -> None:
    reader = MarkReader(tmp_path / "inbox.durable")
    writer = MarkWriter(tmp_path / "inbox.durable")
    assert reader.read() is None and not reader.covers(0, 1)  # none yet: the consumer fsyncs
    writer.publish(2, 10)
    assert reader.covers(2, 10) and reader.covers(1, 10**9)
    assert not reader.covers(2, 11) and not reader.covers(3, 0)
    writer.publish(2, 40)  # rewritten in place by one descriptor: the reader's open descriptor sees it
    assert reader.covers(2, 40)
    writer.publish(2, 30)  # an fsync that completed after a later one: skipped, the mark stays higher
    assert reader.read() == (2, 40)
    other = MarkWriter(tmp_path / "inbox.durable")
    other.publish(2, 20)  # another producer's lower mark: still true, and the highest one seen still counts
    assert reader.read() == (2, 20) and reader.covers(2, 40) and not reader.covers(2, 41)
    other.close()
    writer.close()
    writer.publish(3, 0)  # a flusher job that completes after its producer closed: nothing, no descriptor left
    assert writer._fd is None and reader.read() == (2, 20)
    reader.close()


def _ctx(run_dir: Path, fsync: str) -> RunContext:
    queues = replace(scratch_queues(), base_dir="queues", fsync=fsync, fsync_overrides={})
    return RunContext(run_dir, RUN_ID, HASH, lambda: int(time.time() * 1000), queues)


def _ticks(ctx: RunContext, producer_order: WriteOrder, producer: Producer, count: int) -> None:
    with using(producer_order):
        producer.publish([producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"]) for _ in range(count)])


@pytest.mark.parametrize("how", ["inline", "flusher"])
def test_consumer_fsyncs_its_input_only_beyond_the_producers_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    ctx = _ctx(tmp_path, "group:60000ms")  # the producer fsyncs only when the test says so
    with using(WriteOrder()) as p_order:
        producer = ctx.producer("market_ticks", "market_role")
    with using(WriteOrder()) as c_order:
        consumer = ctx.consumer("market_ticks", "strategy_role")
    inbox = segment_path(ctx.queue_paths("market_ticks").folder, INBOX, 0)
    synced: list[bool] = []  # one per fsync: was it of the inbox
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.path.samestat(os.fstat(fd), inbox.stat()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    def consumer_syncs_inbox() -> bool:
        """Poll what is new, then make the consumer's causes durable as its next write would."""
        synced.clear()
        assert consumer.poll()
        with using(c_order):
            c_order.barrier()
        return any(synced)

    _ticks(ctx, p_order, producer, 2)
    assert consumer_syncs_inbox()  # the producer has fsynced nothing: the consumer must
    _ticks(ctx, p_order, producer, 2)
    if how == "inline":
        producer._appender.flush()  # inline, as an `always` write or a barrier does
    else:
        time.sleep(0.002)
        producer._appender.interval_s = 0.001  # its group commit falls due: the flusher thread fsyncs
        p_order.commit_if_due()
        for job in list(p_order._jobs):
            job.wait()
    assert MarkReader(mark_path(inbox.parent, INBOX)).covers(0, inbox.stat().st_size)
    assert not consumer_syncs_inbox()  # covered by the producer's fsync
    assert consumer._input.skipped == 1
    _ticks(ctx, p_order, producer, 1)
    assert consumer_syncs_inbox()  # one line beyond the mark: fsynced again
    consumer.ack()
    consumer.close()
    producer.close()


def test_no_mark_under_fsync_none(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "none")
    with using(WriteOrder()) as order:
        producer = ctx.producer("market_ticks", "market_role")
        _ticks(ctx, order, producer, 2)
        producer.close()
    assert not mark_path(ctx.queue_paths("market_ticks").folder, INBOX).exists()


def test_the_mark_follows_the_producer_across_segment_rotations(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "always")
    ctx = replace(ctx, queues=replace(ctx.queues, segment_max_bytes=2_000))
    folder = ctx.queue_paths("market_ticks").folder
    with using(WriteOrder()) as order:
        producer = ctx.producer("market_ticks", "market_role")
        reader = MarkReader(mark_path(folder, INBOX))
        for _ in range(12):
            _ticks(ctx, order, producer, 2)
            index = producer._appender.index
            # `always`: each write is fsynced before publish returns, and the mark names its end exactly.
            assert reader.read() == (index, segment_path(folder, INBOX, index).stat().st_size)
        assert producer._appender.index >= 2, "the test must rotate"
        producer.close()
        reader.close()
