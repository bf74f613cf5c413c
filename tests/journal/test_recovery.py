"""A torn append (never published) is repaired and recorded; truncating published lines at any byte offset is
a desync that STOPs and is never repaired away; no wrong event is ever yielded (R-T2, R-T6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minibot.contracts.envelope import encode_event
from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.ids import deterministic_id
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.reader import decode_event
from minibot.journal.verify import verify_path
from minibot.reasons import CursorDesync, NoreError, ReasonCode

RUN_ID = "20261124_101010"
HASH = "d" * 64


def _ctx(folder: Path) -> RunContext:
    return RunContext(folder, RUN_ID, HASH, lambda: 1_700_000_000_000, scratch_queues())


def _publish(ctx: RunContext, first: int, count: int) -> list[str]:
    producer = ctx.producer("market_ticks", "market_role")
    events = [
        producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"], id_=deterministic_id("rec", str(n)))
        for n in range(first, first + count)
    ]
    producer.publish(events)
    producer.close()
    return [e["id"] for e in events]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_before=st.integers(0, 6), n_after=st.integers(0, 6), cut=st.floats(0, 1), consumed=st.integers(0, 12))
def test_truncation_at_any_offset(
    tmp_path_factory: pytest.TempPathFactory, n_before: int, n_after: int, cut: float, consumed: int
) -> None:
    folder = tmp_path_factory.mktemp("q")
    ctx = _ctx(folder)
    ctx.queue_paths("market_ticks").create()
    published = _publish(ctx, 0, n_before + n_after)
    # a consumer reads part of it and commits
    consumer = ctx.consumer("market_ticks", "strategy_role")
    got = [r.event["id"] for r in consumer.poll(min(consumed, len(published)))]
    consumer.ack()
    consumer.close()
    inbox = ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
    data = inbox.read_bytes()
    offset = int(cut * len(data))
    inbox.write_bytes(data[:offset])  # everything after `offset` is gone, published lines included
    whole = data[:offset].count(b"\n")
    # Published (chained) bytes are gone: a desync the producer STOPs on; it repairs nothing away.
    producer = ctx.producer("market_ticks", "market_role")
    new = producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"], id_=deterministic_id("rec", "new"))
    if offset < len(data):
        with pytest.raises(CursorDesync, match="truncated"):
            producer.publish([new])
        producer.close()
        assert inbox.read_bytes() == data[:offset] and not producer.repairs
        assert ReasonCode.CURSOR_DESYNC.value in {p.reason_code for p in verify_path(inbox.parent).problems}
        if len(got) > whole:  # the consumer had read lines that are gone
            with pytest.raises(NoreError):
                ctx.consumer("market_ticks", "strategy_role")
        return
    producer.publish([new])
    producer.close()
    consumer = ctx.consumer("market_ticks", "strategy_role")
    rest = [r.event["id"] for r in consumer.poll(100)]
    consumer.close()
    assert got + rest == [*published, new["id"]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 6), cut=st.floats(0, 1))
def test_torn_append_is_repaired_and_recorded(tmp_path_factory: pytest.TempPathFactory, n: int, cut: float) -> None:
    # A producer killed inside its write leaves part of a line that was never published (nor chained).
    folder = tmp_path_factory.mktemp("q")
    ctx = _ctx(folder)
    ctx.queue_paths("market_ticks").create()
    published = _publish(ctx, 0, n)
    inbox = ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
    before = inbox.read_bytes()
    extra = encode_event(
        ctx.producer("market_ticks", "market_role").event("market_tick", EXAMPLE_PAYLOADS["market_tick"]),
        ctx.queue_paths("market_ticks").contract,
    )
    torn = extra[: max(1, int(cut * (len(extra) - 1)))]
    inbox.write_bytes(before + torn)
    producer = ctx.producer("market_ticks", "market_role")
    new = producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"], id_=deterministic_id("rec", "new"))
    producer.publish([new])
    producer.close()
    assert len(producer.repairs) == 1 and producer.repairs[0]["truncated_bytes"] == len(torn)
    ids = [decode_event(line)[1]["id"] for line in inbox.read_bytes().splitlines(keepends=True)]
    assert ids == [*published, new["id"]]
    assert verify_path(inbox.parent).ok
