"""File queue behaviour: rotation, cursor/ack commit and recovery, desync detection, de-duplication."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.ids import deterministic_id
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.segments import FsyncPolicy
from minibot.journal.verify import verify_path
from minibot.reasons import CursorDesync, NonAtomicWrite, ReasonCode


def _ctx(tmp: Path, segment_max_bytes: int = 64 << 20) -> RunContext:
    queues = replace(
        scratch_queues(), base_dir="queues", fsync="group:10ms", segment_max_bytes=segment_max_bytes, batch_max_events=7
    )
    ctx = RunContext(tmp, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, queues)
    ctx.queue_paths("market_ticks").create()
    return ctx


def _publish(ctx: RunContext, ids: range, batch: int = 10) -> list[str]:
    producer = ctx.producer("market_ticks", "market_role")
    out = []
    for start in range(ids.start, ids.stop, batch):
        events = [
            producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"], id_=deterministic_id("q", str(n)))
            for n in range(start, min(start + batch, ids.stop))
        ]
        producer.publish(events)
        out += [e["id"] for e in events]
    producer.close()
    return out


def _drain(ctx: RunContext, consumer_name: str = "strategy_role") -> list[str]:
    consumer = ctx.consumer("market_ticks", consumer_name)
    got: list[str] = []
    for _ in range(10_000):
        records = consumer.poll()
        if not records:
            break
        got += [r.event["id"] for r in records]
        consumer.ack()
    consumer.close()
    return got


def test_queue_has_the_r_a2_files(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, range(3))
    _drain(ctx)
    names = {p.name for p in ctx.queue_paths("market_ticks").folder.iterdir()}
    assert {"inbox.jsonl", "acks.jsonl", "deadletter.jsonl", "cursor.json"} <= names


def test_rotation_is_followed_across_segments(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, segment_max_bytes=4096)
    published = _publish(ctx, range(200))
    assert len(list(ctx.queue_paths("market_ticks").folder.glob("inbox.*.jsonl"))) >= 5
    assert _drain(ctx) == published
    more = _publish(ctx, range(200, 260))
    assert _drain(ctx) == more
    assert verify_path(ctx.queue_paths("market_ticks").folder).ok


def test_secondary_consumers_have_their_own_cursor(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    published = _publish(ctx, range(20))
    assert _drain(ctx, "strategy_role") == published
    assert _drain(ctx, "ai_role") == published
    folder = ctx.queue_paths("market_ticks").folder
    assert (folder / "cursor.ai_role.json").exists() and (folder / "acks.ai_role.jsonl").exists()
    assert read_critical_json(folder / "cursor.json")["line"] == 20


def _two_acks(ctx: RunContext) -> tuple[Path, bytes]:
    """Consume two batches of 7 with an ack each; return the cursor path and its bytes after the first ack."""
    consumer = ctx.consumer("market_ticks", "strategy_role")
    consumer.poll()
    consumer.ack()
    cursor_path = ctx.queue_paths("market_ticks").cursor("strategy_role")
    first = cursor_path.read_bytes()
    consumer.poll()
    consumer.ack()
    consumer.close()
    return cursor_path, first


def test_crash_between_ack_and_cursor_rolls_forward(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, range(30))
    cursor_path, before = _two_acks(ctx)
    cursor_path.write_bytes(before)  # the cursor write after the second ack never happened
    reopened = ctx.consumer("market_ticks", "strategy_role")
    assert reopened.committed.line == 14
    reopened.close()


def test_cursor_that_disagrees_with_its_line_is_a_stop(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, range(30))
    _drain(ctx)
    path = ctx.queue_paths("market_ticks").cursor("strategy_role")
    data = read_critical_json(path)
    write_critical_json(path, dict(data, last_sha256="0" * 64))
    with pytest.raises(CursorDesync, match="sha256"):
        ctx.consumer("market_ticks", "strategy_role")
    write_critical_json(path, dict(data, offset=data["offset"] - 5))
    with pytest.raises(CursorDesync):
        ctx.consumer("market_ticks", "strategy_role")


def test_truncated_queue_behind_the_cursor_is_a_stop(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, range(30))
    _drain(ctx)
    inbox = ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
    data = inbox.read_bytes()
    inbox.write_bytes(data[: data.index(b"\n") + 1])
    with pytest.raises(CursorDesync, match="truncated"):
        ctx.consumer("market_ticks", "strategy_role")


def test_acks_out_of_order_is_a_stop(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, range(30))
    cursor_path, first = _two_acks(ctx)
    acks = ctx.queue_paths("market_ticks").folder / "acks.jsonl"
    lines = acks.read_bytes().splitlines(keepends=True)
    acks.write_bytes(lines[0] + lines[1] + lines[1])  # a repeated ack
    cursor_path.write_bytes(first)
    with pytest.raises(CursorDesync) as exc:
        ctx.consumer("market_ticks", "strategy_role")
    assert exc.value.reason_code in (ReasonCode.ACKS_OUT_OF_ORDER, ReasonCode.CURSOR_DESYNC)
    report = verify_path(ctx.queue_paths("market_ticks").folder)
    assert any(p.reason_code in ("ACKS_OUT_OF_ORDER", "DUPLICATE_ID") for p in report.problems)


def test_torn_cursor_is_a_non_atomic_write_stop(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, range(5))
    _drain(ctx)
    path = ctx.queue_paths("market_ticks").cursor("strategy_role")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(NonAtomicWrite):
        ctx.consumer("market_ticks", "strategy_role")


def test_duplicate_ids_are_dropped_by_the_consumer_and_flagged_by_verify(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    published = _publish(ctx, range(5))
    _publish(ctx, range(3, 5))  # a buggy producer re-publishes two events
    consumer = ctx.consumer("market_ticks", "strategy_role")
    got = [r.event["id"] for r in consumer.poll(100)]
    assert got == published and consumer.duplicates_dropped == 2
    consumer.close()
    folder = ctx.queue_paths("market_ticks").folder
    report = verify_path(folder)
    assert [p.reason_code for p in report.problems] == ["DUPLICATE_ID", "DUPLICATE_ID"]
    data = (folder / "inbox.jsonl").read_bytes()
    starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    # Lines 6 and 7 repeat lines 4 and 5: each named with its offset and the earlier line, and its id.
    assert [(p.line, p.offset) for p in report.problems] == [(6, starts[5]), (7, starts[6])]
    assert [p.detail for p in report.problems] == [
        f"id {published[3]} already at inbox.jsonl:4",
        f"id {published[4]} already at inbox.jsonl:5",
    ]


def test_partial_last_line_is_not_consumed_until_complete(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    published = _publish(ctx, range(3))
    inbox = ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
    full = inbox.read_bytes()
    last_start = full.rstrip(b"\n").rfind(b"\n") + 1
    inbox.write_bytes(full[:-20])  # an append in progress
    consumer = ctx.consumer("market_ticks", "strategy_role")
    assert [r.event["id"] for r in consumer.poll()] == published[:2]
    inbox.write_bytes(full)
    assert [r.event["id"] for r in consumer.poll()] == published[2:]
    assert last_start > 0
    consumer.close()


def test_fsync_policy_parsing() -> None:
    assert FsyncPolicy.parse("group:10ms").interval_ms == 10
    assert str(FsyncPolicy.parse("always")) == "always"
    with pytest.raises(ValueError, match="expected"):
        FsyncPolicy.parse("sometimes")
