"""The consumer notices damage behind it during the run (acks journal deleted or shrunk, queue truncated or
deleted), checkpoints its cursor at most once a second, and appends deadletters under the queue's lock."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from minibot.contracts.codec import split_line
from minibot.contracts.envelope import encode_event
from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.journal.acklog import CURSOR_INTERVAL_S
from minibot.journal.atomic import file_lock, read_critical_json, write_critical_json
from minibot.journal.chain import chain_path
from minibot.journal.consumer import Consumer
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.layout import INBOX
from minibot.journal.segments import segment_path
from minibot.journal.verify import verify_path
from minibot.metrics.verdict import Reasons
from minibot.metrics.verify_journals import check_integrity
from minibot.reasons import CursorDesync


def _ctx(tmp: Path, fsync: str = "always", segment_max_bytes: int = 64 << 20) -> RunContext:
    queues = replace(
        scratch_queues(), base_dir="queues", fsync=fsync, segment_max_bytes=segment_max_bytes, batch_max_events=3
    )
    ctx = RunContext(tmp, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, queues)
    ctx.queue_paths("market_ticks").create()
    return ctx


def _publish(ctx: RunContext, n: int) -> None:
    producer = ctx.producer("market_ticks", "market_role")
    for _ in range(n):
        producer.publish([producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"])])
    producer.close()


def _read_some(ctx: RunContext) -> Consumer:
    consumer = ctx.consumer("market_ticks", "strategy_role")
    assert consumer.poll()
    consumer.ack()
    return consumer


def test_a_deleted_or_shrunk_acks_journal_stops_the_next_ack(tmp_path: Path) -> None:
    for damage in ("delete", "shrink"):
        ctx = _ctx(tmp_path / damage)
        _publish(ctx, 9)
        consumer = _read_some(ctx)
        acks = ctx.queue_paths("market_ticks").folder / "acks.jsonl"
        if damage == "delete":
            acks.unlink()
        else:
            acks.write_bytes(acks.read_bytes()[:-5])
        assert consumer.poll()
        with pytest.raises(CursorDesync, match=r"acks\.jsonl"):
            consumer.ack()


def test_a_truncated_or_deleted_queue_stops_the_consumer(tmp_path: Path) -> None:
    for damage in ("truncate", "delete"):
        ctx = _ctx(tmp_path / damage)
        _publish(ctx, 4)
        consumer = _read_some(ctx)
        inbox = ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
        if damage == "delete":
            inbox.unlink()
        else:
            inbox.write_bytes(inbox.read_bytes()[: consumer.read.offset // 2])
        with pytest.raises(CursorDesync, match="truncated, deleted or replaced"):
            consumer.poll()


def test_cursor_checkpoints_at_most_every_interval_and_verify_judges_the_rolled_forward_state(
    tmp_path: Path,
) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, 30)
    paths = ctx.queue_paths("market_ticks")
    consumer = ctx.consumer("market_ticks", "strategy_role")
    started = time.monotonic()
    while consumer.poll():
        consumer.ack()
    assert time.monotonic() - started < CURSOR_INTERVAL_S, "too slow to test the interval"
    # Ten acks, no cursor rewrite yet: the acks journal is the durable log.
    assert read_critical_json(paths.cursor("strategy_role"))["line"] == 0
    # A crash here (no close): verify judges the state a reopened consumer rolls forward to.
    report = verify_path(paths.folder)
    assert report.ok, report.problems
    assert any("rolled forward" in note and "nothing consumed was lost" in note for note in report.notes)
    reasons = Reasons()
    check_integrity(tmp_path, ctx.queues_dir, reasons)
    assert not reasons, reasons.items
    assert ctx.consumer("market_ticks", "strategy_role").committed.line == 30
    consumer.close()
    assert read_critical_json(paths.cursor("strategy_role"))["line"] == 30


def test_a_cursor_behind_its_acks_but_not_at_an_ack_is_still_a_desync(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, 9)
    paths = ctx.queue_paths("market_ticks")
    consumer = ctx.consumer("market_ticks", "strategy_role")
    consumer.poll()
    at_line_3 = consumer.read
    consumer.ack()
    while consumer.poll():
        consumer.ack()
    consumer.close()
    # Line 3 is where the second ack starts, but the cursor names the first ack's place in the acks journal.
    wrong = dataclasses.replace(at_line_3, acks_segment=0, acks_offset=0)
    write_critical_json(paths.cursor("strategy_role"), wrong.to_dict("market_ticks", "strategy_role", "r", 0))
    problems = verify_path(paths.folder).problems
    assert [p.reason_code for p in problems] == ["CURSOR_DESYNC"], problems
    assert "cursor at line 3 but acks end at line 9" in problems[0].detail


def test_deadletter_appends_wait_for_the_queue_lock(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, 1)
    paths = ctx.queue_paths("market_ticks")
    with (paths.folder / "inbox.jsonl").open("ab") as fh:
        fh.write(b"sha256:" + b"0" * 64 + b':{"not":"the hashed bytes"}\n')
    consumer = ctx.consumer("market_ticks", "strategy_role")
    dead = paths.folder / "deadletter.jsonl"
    with file_lock(paths.lock):
        reader = threading.Thread(target=consumer.poll)
        reader.start()
        time.sleep(0.5)
        assert dead.stat().st_size == 0, "a deadletter was appended while another process held the queue's lock"
    reader.join(10)
    assert dead.stat().st_size > 0


def test_more_says_whether_a_poll_stopped_before_the_end_of_the_queue(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)  # batch_max_events=3
    _publish(ctx, 7)
    consumer = ctx.consumer("market_ticks", "strategy_role")
    sizes = []
    while True:
        records = consumer.poll()
        sizes.append((len(records), consumer.more))
        if not records:
            break
    # Full batches may leave lines behind (poll again at once); the short one reached the end.
    assert sizes == [(3, True), (3, True), (1, False), (0, False)]
    _publish(ctx, 1)  # appended after: a ring announces it, `more` does not
    assert len(consumer.poll(5)) == 1
    assert not consumer.more
    consumer.close()


@pytest.mark.parametrize("state", ["empty", "half a line"])
def test_an_ack_at_a_rotation_names_the_line_where_it_ends_not_the_start_of_the_next_segment(
    tmp_path: Path, state: str
) -> None:
    # A producer rotating to segment 1 creates it (sidecar first, then the segment) just before its first
    # write there; a consumer that reached the end of segment 0 in between, or while that write was only
    # partly visible, acked (1, 0) for a line that ends at (0, end): verify reported CURSOR_DESYNC ("ack
    # names line 4 at segment 1 offset 0 ..., the queue has (0, 2575, ...)") and a night STOPped on it.
    ctx = _ctx(tmp_path, segment_max_bytes=4096)
    _publish(ctx, 5)
    paths = ctx.queue_paths("market_ticks")
    segment = segment_path(paths.folder, INBOX, 1)
    chain_path(segment).touch()
    producer = ctx.producer("market_ticks", "market_role")
    line = encode_event(producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"]), paths.contract)
    half = 0 if state == "empty" else len(line) // 2
    segment.write_bytes(line[:half])
    consumer = ctx.consumer("market_ticks", "strategy_role")
    records = consumer.poll(10)
    assert [(r.line, r.segment) for r in records] == [(n, 0) for n in range(5)]
    consumer.ack()
    _, raw = split_line((paths.folder / "acks.jsonl").read_bytes().splitlines(keepends=True)[-1])
    ack = orjson.loads(raw)["payload"]
    assert (ack["segment"], ack["offset"], ack["last_line"]) == (0, records[-1].end, 4), ack
    # Verify run now also sees the half-written line as a torn tail (the write is still under way).
    codes = [p.reason_code for p in verify_path(paths.folder).problems]
    assert codes == ([] if state == "empty" else ["LINE_TORN"]), codes
    # The write completes and the producer goes on in segment 1: the consumer reads on from there.
    with segment.open("ab") as fh:
        fh.write(line[half:])
    producer.publish([producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"])])
    producer.close()
    records = consumer.poll()
    assert [(r.line, r.segment) for r in records] == [(5, 1), (6, 1)]
    consumer.ack()
    consumer.close()
    report = verify_path(paths.folder)
    assert report.ok, report.problems


@pytest.mark.parametrize("segment_max_bytes", [64 << 20, 4096])
def test_a_poll_reads_only_what_the_segment_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, segment_max_bytes: int
) -> None:
    # read(n) allocates n bytes first: 1 MB per poll for a few lines churned every process's C heap
    # (issue 14, item 4); the reads follow the file's size instead, and every event is still read. Also the
    # last look at a segment once the next one exists (4096: rotations). The readers' heap step at a rotation
    # was glibc's mmap threshold, not this read (fixed by minibot/watchdog/launch.py MALLOC_ENV).
    ctx = _ctx(tmp_path, segment_max_bytes=segment_max_bytes)
    _publish(ctx, 20)
    consumer = ctx.consumer("market_ticks", "strategy_role")
    asked: list[tuple[int, int]] = []
    real_file = consumer._file

    def spying_file(segment: int) -> Any:
        fh = real_file(segment)
        real_read = fh.read

        class _Spy:
            def __getattr__(self, name: str) -> Any:
                return getattr(fh, name)

            def read(self, n: int = -1) -> bytes:
                asked.append((segment, n))
                return real_read(n)

        return _Spy()

    monkeypatch.setattr(consumer, "_file", spying_file)
    folder = ctx.queue_paths("market_ticks").folder
    got = [r.line for _ in range(12) for r in consumer.poll()]
    assert got == list(range(20))
    sizes = {i: segment_path(folder, INBOX, i).stat().st_size for i in {s for s, _ in asked}}
    assert len(sizes) == (1 if segment_max_bytes > 4096 else 3), sizes
    assert asked and all(0 <= n <= sizes[s] for s, n in asked), (asked, sizes)
    consumer.close()
