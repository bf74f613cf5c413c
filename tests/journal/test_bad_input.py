"""Bad input (R-T1, R-T2, R-T7): each invalid envelope is refused with its own reason code, the deadletter keeps
the original line verbatim, and nothing before it is lost."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from minibot.contracts.codec import frame
from minibot.contracts.envelope import encode_event
from minibot.contracts.examples import (
    EXAMPLE_CMDLINE_HASH,
    EXAMPLE_RUN_ID,
    INVALID_ENVELOPES,
    example_event,
)
from minibot.ids import deterministic_id
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.reader import decode_event
from minibot.reasons import ContractViolation, NoreError


def _ctx(tmp: Path) -> RunContext:
    ctx = RunContext(tmp, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, scratch_queues())
    ctx.queue_paths("market_ticks").create()
    return ctx


@pytest.mark.parametrize(("name", "change", "code"), INVALID_ENVELOPES, ids=[c[0] for c in INVALID_ENVELOPES])
def test_producer_refuses_with_reason_code(name: str, change: dict[str, Any], code: str) -> None:
    with pytest.raises(ContractViolation) as exc:
        encode_event(example_event("market_tick", **change))
    assert exc.value.reason_code.value == code


@pytest.mark.parametrize(("name", "change", "code"), INVALID_ENVELOPES, ids=[c[0] for c in INVALID_ENVELOPES])
def test_consumer_deadletters_and_keeps_what_came_before(
    tmp_path: Path, name: str, change: dict[str, Any], code: str
) -> None:
    ctx = _ctx(tmp_path)
    producer = ctx.producer("market_ticks", "market_role")
    good = [example_event("market_tick", id=deterministic_id("good", str(i))) for i in range(3)]
    producer.publish(good)
    producer.close()
    bad = example_event("market_tick", **{"id": deterministic_id("bad"), **change})
    json_bytes = _nan_json(bad) if "NaN" in name else orjson.dumps(bad)
    bad_line = frame(json_bytes)
    inbox = ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
    with inbox.open("ab") as fh:
        fh.write(bad_line)
    consumer = ctx.consumer("market_ticks", "strategy_role")
    records = consumer.poll()
    assert [r.event["id"] for r in records] == [e["id"] for e in good]
    consumer.ack()
    with pytest.raises(NoreError) as exc:
        consumer.poll()
    assert exc.value.reason_code.value == code
    assert "inbox.jsonl:4 (" in exc.value.detail
    consumer.close()
    dead = (ctx.queue_paths("market_ticks").folder / "deadletter.jsonl").read_bytes().splitlines(keepends=True)
    assert len(dead) == 1
    entry = decode_event(dead[0])[1]["payload"]
    assert base64.b64decode(entry["raw_b64"]) == bad_line
    assert entry["reason_code"] == code and entry["line"] == 3
    # nothing before the bad line is lost: the good lines stay acked and the queue file is untouched
    assert inbox.read_bytes().endswith(bad_line)
    reopened = ctx.consumer("market_ticks", "strategy_role")
    assert reopened.committed.line == 3
    reopened.close()


def _nan_json(event: dict[str, Any]) -> bytes:
    """orjson cannot write NaN; a foreign writer could. Put the literal token where the NaN was."""
    placeholder = dict(event, ts=-12345)
    return orjson.dumps(placeholder).replace(b"-12345", b"NaN")


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda line: line.replace(b'"BTCUSDT"', b'"ETHUSDT"'), "LINE_HASH_MISMATCH"),
        (lambda line: b"sha1:" + line[7:], "LINE_BAD_PREFIX"),
        (lambda line: frame(b'{"schema": "nore.event",'), "LINE_BAD_JSON"),
        (lambda line: frame(b'{"a":"\xff"}'), "LINE_NOT_UTF8"),
    ],
)
def test_framing_defects_have_their_own_codes(tmp_path: Path, mutate: Any, code: str) -> None:
    line = encode_event(example_event("market_tick"))
    with pytest.raises(NoreError) as exc:
        decode_event(mutate(line))
    assert exc.value.reason_code.value == code


def test_foreign_producer_and_type_refused_on_queue(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    queue = ctx.queue_paths("market_ticks").contract
    with pytest.raises(ContractViolation) as exc:
        encode_event(example_event("market_tick", source="ai_role"), queue)
    assert exc.value.reason_code.value == "PRODUCER_NOT_ALLOWED"
    with pytest.raises(ContractViolation) as exc:
        encode_event(example_event("order_intent", source="market_role"), queue)
    assert exc.value.reason_code.value == "TYPE_NOT_ALLOWED_ON_QUEUE"


def test_other_runs_events_are_refused(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    line = encode_event(example_event("market_tick", run_id="20200101_000000"))
    with pytest.raises(ContractViolation) as exc:
        decode_event(line, run_id=ctx.run_id)
    assert exc.value.reason_code.value == "RUN_ID_MISMATCH"
    line = encode_event(example_event("market_tick", cmdline_hash="f" * 64))
    with pytest.raises(ContractViolation) as exc:
        decode_event(line, cmdline_hash=ctx.cmdline_hash)
    assert exc.value.reason_code.value == "CMDLINE_HASH_MISMATCH"
