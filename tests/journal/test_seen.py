"""The consumer's id window: same answers as a plain set over the last n ids, compact, seeded on restart."""

from __future__ import annotations

import tracemalloc
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.ids import deterministic_id
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.seen import SeenWindow, id_key, seed_from_queue, window_for
from minibot.journal.segments import list_segments
from minibot.reasons import JournalCorrupt

_POOL = [deterministic_id("seen", str(n)) for n in range(40)]


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 12), picks=st.lists(st.integers(0, len(_POOL) - 1), max_size=120))
def test_answers_like_a_plain_set_of_the_last_n_ids_added(capacity: int, picks: list[int]) -> None:
    window = SeenWindow(capacity)
    added: list[str] = []  # the model: ids accepted so far, oldest first
    for pick in picks:
        event_id = _POOL[pick]
        recent = set(added[-capacity:])
        assert (event_id in window) == (event_id in recent)
        assert window.add(event_id) == (event_id not in recent)
        if event_id not in recent:
            added.append(event_id)
        assert len(window) == len(set(added[-capacity:]))


def test_key_is_exact_for_every_uuid_bit() -> None:
    a = str(uuid.UUID(int=1 << 127))
    b = str(uuid.UUID(int=1))
    assert id_key(a) != id_key(b) and id_key(a) == 1 << 127


def test_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SeenWindow(0)


def test_65536_ids_cost_well_under_the_ordered_dict_of_str() -> None:
    ids = [str(uuid.uuid4()) for _ in range(1 << 16)]
    tracemalloc.start()
    window = SeenWindow(1 << 16)
    for event_id in ids:
        window.add(event_id)
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert used < 7_000_000, f"{used} bytes for 65,536 ids"  # the OrderedDict of str took ~10.6 MB


def test_the_window_covers_eight_read_batches_and_never_fewer_than_8192_ids() -> None:
    assert window_for(1000) == 8192  # the shipped queues.batch_max_events
    assert window_for(1) == 8192
    assert window_for(5000) == 40_000


def _ctx(tmp: Path, segment_max_bytes: int = 64 << 20) -> RunContext:
    queues = replace(
        scratch_queues(), base_dir="queues", fsync="none", segment_max_bytes=segment_max_bytes, batch_max_events=50
    )
    ctx = RunContext(tmp, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, queues)
    ctx.queue_paths("market_ticks").create()
    return ctx


def _publish(ctx: RunContext, numbers: range) -> list[str]:
    producer = ctx.producer("market_ticks", "market_role")
    events = [
        producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"], id_=deterministic_id("q", str(n)))
        for n in numbers
    ]
    for start in range(0, len(events), 10):
        producer.publish(events[start : start + 10])
    producer.close()
    return [e["id"] for e in events]


def _consume(ctx: RunContext) -> tuple[list[str], int]:
    consumer = ctx.consumer("market_ticks", "strategy_role")
    got: list[str] = []
    for _ in range(1000):
        records = consumer.poll()
        if not records:
            break
        got += [r.event["id"] for r in records]
        consumer.ack()
    dropped = consumer.duplicates_dropped
    consumer.close()
    return got, dropped


@pytest.mark.parametrize("segment_max_bytes", [64 << 20, 4096])
def test_a_restarted_consumer_still_drops_what_it_consumed_before(tmp_path: Path, segment_max_bytes: int) -> None:
    ctx = _ctx(tmp_path, segment_max_bytes)
    first = _publish(ctx, range(60))
    assert _consume(ctx) == (first, 0)
    # The consumer has restarted (new process, empty memory); a restarted producer re-publishes a tail.
    again = _publish(ctx, range(40, 70))
    got, dropped = _consume(ctx)
    assert got == again[20:] and dropped == 20


def test_seed_reads_back_only_up_to_the_limit_and_the_cursor(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, 4096)
    ids = _publish(ctx, range(30))
    folder = ctx.queue_paths("market_ticks").folder
    segments = list_segments(folder, "inbox")
    assert len(segments) > 1, "the test needs the ids spread over several segments"
    window = SeenWindow(100)
    index, last = segments[-1]
    lines = last.read_bytes().splitlines(keepends=True)
    end = len(lines[0])  # stop after the first line of the newest segment
    assert seed_from_queue(window, folder, "inbox", index, end, 7) == 7
    upto = ids.index(next(i for i in ids if i.encode() in lines[0])) + 1
    assert [i in window for i in ids] == [upto - 7 <= n < upto for n in range(30)]


def test_seed_refuses_a_line_that_no_longer_matches_its_hash(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _publish(ctx, range(3))
    inbox = ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
    data = bytearray(inbox.read_bytes())
    data[-5] = ord("0") if data[-5] != ord("0") else ord("1")
    inbox.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        seed_from_queue(SeenWindow(10), inbox.parent, "inbox", 0, len(data), 10)
