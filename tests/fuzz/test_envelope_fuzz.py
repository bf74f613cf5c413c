"""Fuzz: mutated envelopes and payloads, and damaged lines, fed to a real queue consumer.

Each line ends as a delivered record (the mutation left it valid) or a NoreError carrying a reason code
(and a deadletter line); never another exception.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from minibot.contracts.codec import encode_line, frame
from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_RUN_ID, example_event
from minibot.contracts.registry import registry
from minibot.journal.context import RunContext, scratch_queues
from minibot.reasons import NoreError, ReasonCode
from tests.fuzz.cases import CASES, FUZZ, flip_bytes, mutated, work_dir

QUEUE = "order_intents"
CONTRACT = registry().queues[QUEUE]
TYPE = sorted(CONTRACT.types)[0]
PRODUCER = sorted(CONTRACT.producers)[0]
BASE = example_event(TYPE, source=PRODUCER)
WORK = work_dir("nore-fuzz-envelope-")
_runs = itertools.count()


def _consume(line: bytes) -> None:
    """Write `line` after one valid event into a fresh queue; the consumer must deliver or name a reason."""
    ctx = RunContext(
        WORK / f"r{next(_runs)}", EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, scratch_queues()
    )
    paths = ctx.queue_paths(QUEUE)
    paths.create()
    good = dict(BASE, id="6f1c2d3e-4b5a-4c6d-8e7f-000000000001")
    (paths.folder / "inbox.jsonl").write_bytes(encode_line(good) + line)
    consumer = ctx.consumer(QUEUE, CONTRACT.consumers[0])
    try:
        first = consumer.poll()
        assert first and first[0].event["id"] == good["id"]  # a bad line never costs the valid one before it
        try:
            consumer.poll()
        except NoreError as exc:
            assert isinstance(exc.reason_code, ReasonCode) and exc.detail
            assert (paths.folder / "deadletter.jsonl").stat().st_size > 0
    finally:
        consumer.close()


def _line(event: Any) -> bytes:
    return frame(json.dumps(event, separators=(",", ":")).encode("utf-8", "surrogatepass"))


@FUZZ
@given(mutated(BASE, max_mutations=2))
def test_mutated_envelopes_and_payloads(event: Any) -> None:
    CASES["envelope/payload"] += 1
    _consume(_line(event))


@FUZZ
@given(st.lists(st.integers(min_value=0), min_size=1, max_size=3), st.lists(st.integers(0, 255), max_size=3))
def test_damaged_lines(positions: list[int], values: list[int]) -> None:
    CASES["journal line bytes"] += 1
    line = flip_bytes(_line(dict(BASE, id="6f1c2d3e-4b5a-4c6d-8e7f-000000000002")), positions, values)
    _consume(line if line.endswith(b"\n") else line + b"\n")
