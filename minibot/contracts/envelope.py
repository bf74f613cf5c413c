"""Build, validate and encode event envelopes (R-C2, R-C3, R-T1, R-T7).

Every rejection is a `ContractViolation` whose reason code says exactly what was wrong, so a deadletter
entry and a STOP name the cause (extra field, missing field, bad id, bad run_id, bad cmdline_hash, NaN...).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from fastjsonschema import JsonSchemaValueException

from minibot.contracts.codec import frame
from minibot.contracts.registry import QueueContract, Registry, registry
from minibot.reasons import ContractViolation, ReasonCode

SCHEMA_NAME = "nore.event"
SCHEMA_VERSION = 1
_REQUIRED = ("schema", "v", "ts", "id", "source", "type", "run_id", "cmdline_hash", "payload")
_FIELD_CODES = {
    "data.id": ReasonCode.ENVELOPE_BAD_ID,
    "data.run_id": ReasonCode.ENVELOPE_BAD_RUN_ID,
    "data.cmdline_hash": ReasonCode.CMDLINE_HASH_MALFORMED,
}


@lru_cache(maxsize=4)
def _second_text(second: int) -> str:
    """The "YYYY-MM-DDTHH:MM:SS" text of a Unix second: most events of a second share it, so the datetime formatting
    runs about once per second instead of once per event (issue 14, CPU per tick)."""
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def ts_iso(ts_ms: int) -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-11-24T22:53:47.123Z."""
    second, ms = divmod(int(ts_ms), 1000)
    return f"{_second_text(second)}.{ms:03d}Z"


def build_envelope(
    *, type_: str, payload: Mapping[str, Any], ts: int, id_: str, source: str, run_id: str, cmdline_hash: str
) -> dict[str, Any]:
    """A complete envelope dict (not yet validated; `encode_event` validates what it writes)."""
    return {
        "schema": SCHEMA_NAME,
        "v": SCHEMA_VERSION,
        "ts": ts,
        "ts_iso": ts_iso(ts),
        "id": id_,
        "source": source,
        "type": type_,
        "run_id": run_id,
        "cmdline_hash": cmdline_hash,
        "payload": dict(payload),
    }


def _has_non_finite(value: Any) -> bool:
    """NaN or +-inf anywhere inside `value` (hot path: exact type checks, no ABC isinstance).

    The floats of a container are summed rather than tested one by one: a NaN or an infinity makes the sum
    non-finite, and only then (or on an overflow of finite values) are they looked at one by one.
    """
    kind = type(value)
    if kind is float:
        return bool(value - value != 0.0)  # inf - inf and nan - nan are nan
    if kind is dict:
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return False
    total = 0.0
    for item in items:
        item_kind = type(item)
        if item_kind is float:
            total += item
        elif item_kind in _CONTAINERS and _has_non_finite(item):
            return True
    return bool(total - total != 0.0) and any(type(v) is float and v - v != 0.0 for v in items)


_CONTAINERS = frozenset({dict, list, tuple})


def _envelope_error(event: Any, exc: JsonSchemaValueException) -> ContractViolation:
    if not isinstance(event, dict):
        return ContractViolation("event is not a JSON object", ReasonCode.ENVELOPE_WRONG_TYPE)
    extra = sorted(set(event) - set(registry().envelope_schema["properties"]))
    if extra:
        return ContractViolation(f"envelope has fields not allowed: {extra}", ReasonCode.ENVELOPE_EXTRA_FIELD)
    missing = [f for f in _REQUIRED if f not in event]
    if "cmdline_hash" in missing:
        return ContractViolation("envelope has no cmdline_hash", ReasonCode.CMDLINE_HASH_MISSING)
    if missing:
        return ContractViolation(f"envelope misses required fields {missing}", ReasonCode.ENVELOPE_MISSING_FIELD)
    code = _FIELD_CODES.get(exc.name or "")
    if code is None:
        code = ReasonCode.ENVELOPE_WRONG_TYPE if exc.rule == "type" else ReasonCode.SCHEMA_INVALID
    return ContractViolation(f"envelope: {exc.message} (value {exc.value!r:.80})", code)


def validate_event(event: Any, queue: QueueContract | None = None) -> None:
    """Validate envelope + payload (+ type and producer allowed on `queue`); raise ContractViolation.

    The msgspec check of the event's type (minibot/contracts/typed.py) accepts most valid events in a few
    microseconds; anything it does not accept is decided by the JSON Schema validators, which name the reason.
    """
    reg = registry()
    type_ = event.get("type") if type(event) is dict else None
    check = reg.fast_checks.get(type_) if type(type_) is str else None
    if check is None or not check(event):
        _validate_schemas(reg, event)
    if queue is not None:
        if event["type"] not in queue.types:
            raise ContractViolation(
                f"type {event['type']!r} is not allowed on queue {queue.name!r} (allowed: {sorted(queue.types)})",
                ReasonCode.TYPE_NOT_ALLOWED_ON_QUEUE,
            )
        if event["source"] not in queue.producers:
            raise ContractViolation(
                f"producer {event['source']!r} may not write to queue {queue.name!r}",
                ReasonCode.PRODUCER_NOT_ALLOWED,
            )


def _validate_schemas(reg: Registry, event: Any) -> None:
    """Envelope, then payload, through the compiled JSON Schemas; ContractViolation names what is wrong."""
    try:
        reg.envelope(event)
    except JsonSchemaValueException as exc:
        raise _envelope_error(event, exc) from None
    type_ = event["type"]
    validator = reg.payload_validators.get(type_)
    if validator is None:
        raise ContractViolation(f"unknown event type {type_!r}", ReasonCode.UNKNOWN_EVENT_TYPE)
    try:
        validator(event["payload"])
    except JsonSchemaValueException as exc:
        raise ContractViolation(
            f"{type_} payload: {exc.message.replace('data', 'payload', 1)}", ReasonCode.PAYLOAD_INVALID
        ) from None


def encode_event(event: Mapping[str, Any], queue: QueueContract | None = None) -> bytes:
    """Serialize, validate exactly what will be written, and frame it as one journal line.

    NaN/inf (which JSON cannot carry; orjson would write null) are refused as NON_FINITE_NUMBER, before any
    other reason, so the validated object and the JSON written from it hold the same values. orjson writes
    every non-finite float as `null`, so JSON without a `null` proves the event has none; only JSON with one
    (a None value, or the text inside a string) is searched float by float (~1 us an event saved, twice a
    tick on the way to a fill: issue 14, items 2 and 3).
    """
    try:
        validate_event(event, queue)
    except ContractViolation:
        _refuse_non_finite(event)
        raise
    data = orjson.dumps(event)
    if b"null" in data:
        _refuse_non_finite(event)
    return frame(data)


def _refuse_non_finite(event: Mapping[str, Any]) -> None:
    """NON_FINITE_NUMBER when `event` holds a NaN or an infinity anywhere."""
    if _has_non_finite(event):
        raise ContractViolation("event contains NaN or infinity", ReasonCode.NON_FINITE_NUMBER)
