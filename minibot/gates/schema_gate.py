"""schema_gate (R-Q2): every schema is valid 2020-12, every event type validates and round-trips a queue,
and every kind of bad envelope is refused with its own reason code."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft202012Validator

from minibot.contracts.envelope import encode_event, validate_event
from minibot.contracts.examples import (
    EXAMPLE_CMDLINE_HASH,
    EXAMPLE_PAYLOADS,
    EXAMPLE_RUN_ID,
    INVALID_ENVELOPES,
    example_event,
)
from minibot.contracts.registry import registry
from minibot.gates.base import GateFailed
from minibot.ids import deterministic_id
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.verify import verify_path
from minibot.reasons import ContractViolation


def _check_schemas() -> int:
    reg = registry()
    Draft202012Validator.check_schema(reg.envelope_schema)
    for type_, schema in reg.payload_schemas.items():
        Draft202012Validator.check_schema(schema)
        if type_ not in EXAMPLE_PAYLOADS:
            raise GateFailed(f"event type {type_} has no example payload")
    for queue in reg.queues.values():
        unknown = queue.types - set(reg.payload_schemas)
        if unknown:
            raise GateFailed(f"queue {queue.name} allows unregistered types {sorted(unknown)}")
    return len(reg.payload_schemas)


def _check_examples() -> None:
    reg = registry()
    envelope = Draft202012Validator(reg.envelope_schema)
    for type_ in reg.payload_schemas:
        event = example_event(type_)
        validate_event(event)
        envelope.validate(event)
        Draft202012Validator(reg.payload_schemas[type_]).validate(event["payload"])


def _check_rejections() -> None:
    for name, change, code in INVALID_ENVELOPES:
        try:
            encode_event(example_event("market_tick", **change))
        except ContractViolation as exc:
            if exc.reason_code.value != code:
                raise GateFailed(f"{name}: rejected as {exc.reason_code.value}, expected {code}") from None
        else:
            raise GateFailed(f"{name}: was accepted")


def _check_queue_round_trip(workdir: Path) -> int:
    reg = registry()
    ctx = RunContext(workdir / "run", EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1723161255342, scratch_queues())
    written = 0
    for queue in reg.queues.values():
        ctx.queue_paths(queue.name).create()
        producer = ctx.producer(queue.name, sorted(queue.producers)[0])
        events = [
            producer.event(t, EXAMPLE_PAYLOADS[t], id_=deterministic_id("schema_gate", queue.name, t))
            for t in sorted(queue.types)
        ]
        written += producer.publish(events)
        producer.close()
        consumer = ctx.consumer(queue.name, queue.consumers[0])
        read = consumer.poll()
        consumer.ack()
        consumer.close()
        if [r.event["id"] for r in read] != [e["id"] for e in events]:
            raise GateFailed(f"queue {queue.name}: consumed ids differ from published ids")
    report = verify_path(ctx.queues_dir)
    if not report.ok:
        raise GateFailed(f"journal verify: {report.problems[0]}")
    return written


def schema_gate(workdir: Path) -> str:
    """Run the schema gate in `workdir`; return its one-line detail or raise GateFailed."""
    types = _check_schemas()
    _check_examples()
    _check_rejections()
    events = _check_queue_round_trip(workdir)
    return (
        f"{types} schemas valid (2020-12), examples accepted by both validators, "
        f"{len(INVALID_ENVELOPES)} defect kinds refused with their codes, {events} events round-tripped"
    )
