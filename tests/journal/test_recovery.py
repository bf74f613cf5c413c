"""Truncating a queue file at any byte offset recovers exactly the torn last line or STOPs; it never yields a
wrong event (R-T2, R-T6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.ids import deterministic_id
from minibot.journal.context import RunContext
from minibot.journal.reader import decode_event
from minibot.reasons import NoreError

RUN_ID = "20261124_101010"
HASH = "d" * 64


def _ctx(folder: Path) -> RunContext:
    return RunContext(folder, RUN_ID, HASH, lambda: 1_700_000_000_000)


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
    inbox.write_bytes(data[:offset])  # the crash: everything after `offset` is gone
    whole = data[:offset].count(b"\n")
    torn = offset > 0 and not data[:offset].endswith(b"\n")
    # the producer restarts and appends: it must drop exactly the torn tail and record it
    producer = ctx.producer("market_ticks", "market_role")
    producer.publish([])
    producer.publish(
        [producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"], id_=deterministic_id("rec", "new"))]
    )
    assert len(producer.repairs) == (1 if torn else 0)
    producer.close()
    lines = inbox.read_bytes().splitlines(keepends=True)
    ids = [decode_event(line)[1]["id"] for line in lines]
    assert ids == [*published[:whole], deterministic_id("rec", "new")]
    # the consumer either resumes exactly where it was, or refuses (STOP) because its lines are gone
    try:
        consumer = ctx.consumer("market_ticks", "strategy_role")
    except NoreError:
        assert len(got) > whole
        return
    assert len(got) <= whole
    rest = [r.event["id"] for r in consumer.poll(100)]
    consumer.close()
    assert got + rest == ids
