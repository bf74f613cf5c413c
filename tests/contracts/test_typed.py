"""The msgspec fast checks (minibot/contracts/typed.py) accept and refuse the same events as the JSON Schemas.

The fast check only says "certainly valid"; what it declines the compiled JSON Schema validator decides. So
`validate_event` gives the schema's verdict exactly when every event the fast check accepts is valid (checked
against fastjsonschema, which decides, and jsonschema's 2020-12 reference on the JSON form), and the fast path
is worth having when it accepts every valid event except the one documented case: an integral float such as
1.0 in an integer field (JSON Schema counts it as an integer, msgspec does not).
"""

from __future__ import annotations

import json
import types
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from minibot.contracts.envelope import _validate_schemas, validate_event
from minibot.contracts.examples import example_event
from minibot.contracts.registry import registry
from minibot.contracts.typed import Unsupported, compile_fast_check, compile_pattern
from minibot.reasons import ContractViolation

REG = registry()
FAST = REG.fast_checks.supported()
REFERENCE = {t: Draft202012Validator(s) for t, s in REG.payload_schemas.items()}
ENVELOPE_REFERENCE = Draft202012Validator(REG.envelope_schema)

STRINGS = [
    "",
    "x",
    "BTCUSDT",
    "btcusdt",
    "BTCUSDT\n",
    "market_role",
    "Market_role",
    "20261124_220000",
    "20261124_220000\n",
    "١٢٣٤٥٦٧٨_١٢٣٤٥٦",  # Arabic-Indic digits: Python's \d takes them, in both validators
    "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
    "6f1c2d3e-4b5a-1c6d-8e7f-0a1b2c3d4e5f",
    "2024-08-08T23:54:15.342Z",
    "0" * 63 + "1",
    "ab" * 32 + "\n",
    "book",
    "trade",
    "OK",
    "y" * 300,
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([10**20, 2**63, 1723161255342]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, 2.0, 0.5, -0.5, 1e300]),
    st.sampled_from(STRINGS),
    st.text(max_size=4),
)
PAIRS = st.lists(st.one_of(SCALARS, st.just(1.5)), min_size=0, max_size=3)
LEVELS = st.tuples(st.floats(0.1, 9), st.one_of(st.floats(0.1, 9), st.just(0), st.just("1")))
ARRAYS = st.one_of(
    st.lists(SCALARS, max_size=3),
    st.lists(PAIRS, max_size=3),
    st.lists(LEVELS, max_size=3).map(tuple),
    st.lists(LEVELS, max_size=3),
    st.lists(LEVELS.map(list), max_size=25),
    st.frozensets(LEVELS, max_size=2),
    st.lists(st.frozensets(st.floats(0.1, 9), min_size=2, max_size=2), max_size=2),
)
VALUES = st.one_of(
    SCALARS,
    ARRAYS,
    st.frozensets(st.integers(1, 5), max_size=2),
    st.dictionaries(st.sampled_from(["a", "symbol"]), SCALARS, max_size=2),
)


def _check(type_: str) -> Any:
    check = REG.fast_checks.get(type_)
    assert check is not None
    return check


def _keys(level: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    return sorted(set(level) | set(schema.get("properties", {})) | {"zz_extra"})


def _mutate(target: dict[str, Any], schema: dict[str, Any], data: st.DataObject) -> None:
    for key in data.draw(st.lists(st.sampled_from(_keys(target, schema)), max_size=3, unique=True)):
        action = data.draw(st.sampled_from(["delete", "replace", "newline", "upper"]))
        current = target.get(key)
        if action == "delete":
            target.pop(key, None)
        elif action == "replace":
            is_array = schema.get("properties", {}).get(key, {}).get("type") == "array"
            target[key] = data.draw(ARRAYS if is_array and data.draw(st.booleans()) else VALUES)
        elif isinstance(current, str):
            target[key] = current + "\n" if action == "newline" else current.upper()


def _schema_accepts(event: Any) -> bool:
    try:
        _validate_schemas(REG, event)
    except ContractViolation:
        return False
    return True


def _reference_accepts(event: Any) -> bool | None:
    """jsonschema's 2020-12 verdict on the event's JSON form (None when it has none: sets, mapping proxies)."""
    try:
        doc = json.loads(json.dumps(event))
    except (TypeError, ValueError):
        return None
    if not ENVELOPE_REFERENCE.is_valid(doc):
        return False
    return doc["type"] in REFERENCE and REFERENCE[doc["type"]].is_valid(doc["payload"])


def _integral_float_in_integer_field(event: dict[str, Any]) -> bool:
    payload = event.get("payload")
    levels = [(event, REG.envelope_schema)]
    if isinstance(payload, dict) and event.get("type") in REG.payload_schemas:
        levels.append((payload, REG.payload_schemas[event["type"]]))
    for level, schema in levels:
        for key, value in level.items():
            kinds = schema.get("properties", {}).get(key, {}).get("type", [])
            if type(value) is float and value.is_integer() and "integer" in kinds:
                return True
    return False


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(FAST), st.data())
def test_fast_check_agrees_with_the_schemas(type_: str, data: st.DataObject) -> None:
    event = example_event(type_)
    if data.draw(st.booleans()):
        _mutate(event["payload"], REG.payload_schemas[type_], data)
    shape = data.draw(st.sampled_from(["dict", "dict", "dict", "proxy payload", "proxy event", "list payload"]))
    if shape == "proxy payload":
        event["payload"] = types.MappingProxyType(event["payload"])
    elif shape == "list payload":
        event["payload"] = list(event["payload"])
    if data.draw(st.booleans()):
        _mutate(event, REG.envelope_schema, data)
    _assert_agrees(type_, types.MappingProxyType(event) if shape == "proxy event" else event)


ARRAY_FIELDS = [
    (type_, key)
    for type_ in FAST
    for key, prop in REG.payload_schemas[type_].get("properties", {}).items()
    if prop.get("type") == "array"
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ARRAY_FIELDS), ARRAYS)
def test_fast_check_agrees_on_array_fields(field: tuple[str, str], value: Any) -> None:
    event = example_event(field[0])
    event["payload"][field[1]] = value
    _assert_agrees(field[0], event)


def _assert_agrees(type_: str, candidate: Any) -> None:
    fast = _check(type_)(candidate)
    schema_ok = _schema_accepts(candidate)
    reference_ok = _reference_accepts(candidate)
    if fast:  # sound: what the fast check accepts is valid for both validators
        assert schema_ok, candidate
        assert reference_ok is not False, candidate
    elif schema_ok and reference_ok and not _integral_float_in_integer_field(dict(candidate)):
        pytest.fail(f"the fast check declined a valid event: {candidate!r}")
    try:
        validate_event(candidate)
        verdict = True
    except ContractViolation:
        verdict = False
    assert verdict == schema_ok  # validate_event gives the schema's verdict


def test_the_hot_event_types_have_a_fast_check() -> None:
    assert {"market_tick", "input_batch", "ack", "health", "timing", "fill"} <= set(FAST)
    for type_ in FAST:
        assert _check(type_)(example_event(type_)), type_


def test_an_integral_float_in_an_integer_field_is_decided_by_the_schema() -> None:
    event = example_event("market_tick")
    event["payload"]["exchange_ts"] = 1723161255342.0
    assert not _check("market_tick")(event)
    validate_event(event)  # JSON Schema: 1723161255342.0 is an integer
    event["payload"]["exchange_ts"] = 0.5
    with pytest.raises(ContractViolation, match="exchange_ts"):
        validate_event(event)


def test_a_refusal_still_names_its_reason() -> None:
    event = example_event("market_tick")
    event["payload"]["price"] = -1.0
    with pytest.raises(ContractViolation, match="price") as info:
        validate_event(event)
    assert info.value.reason_code.value == "PAYLOAD_INVALID"


def test_keywords_outside_the_subset_get_no_fast_path() -> None:
    unsupported = [
        {"type": "object", "properties": {"a": {"type": "string", "format": "date-time"}}},
        {"type": "object", "properties": {"a": {"type": "object", "properties": {}}}},
        {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "array"}}}},
        {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string", "pattern": "x"}}}},
        {"type": "object", "properties": {"a": {"type": "number"}}, "if": {}, "then": {}},
        {"type": "object", "properties": {"a": {"enum": [1, "a"], "type": "string"}}},
    ]
    for schema in unsupported:
        with pytest.raises(Unsupported):
            compile_fast_check("x", REG.envelope_schema, schema)
    assert {"order_intent", "order_result"}.isdisjoint(FAST)  # their if/then stays with the JSON Schema


def test_patterns_end_at_the_end_of_the_string() -> None:
    pattern = compile_pattern("^[a-z]{2}$")
    assert pattern.search("ab") and not pattern.search("ab\n")
    assert compile_pattern(r"^\$x$").search("$x")


def test_a_pattern_remembers_few_values() -> None:
    """Unique values (event ids) never hit the set of matched values: it stays small (issue 14, item 4), while
    a value that repeats (the source) is looked up instead of searched again."""
    from minibot.contracts.typed import PATTERN_CACHE

    check = compile_fast_check("market_tick", REG.envelope_schema, REG.payload_schemas["market_tick"])
    # The generated check's namespace holds each pattern's set of matched values as `matched<n>`.
    matched = [v for k, v in check.__globals__.items() if k.startswith("matched")]
    event = example_event("market_tick")
    for n in range(5 * PATTERN_CACHE):
        event["id"] = str(uuid.UUID(int=n, version=4))
        assert check(event)
    ids = next(m for m in matched if event["id"] in m)
    assert 0 < len(ids) <= PATTERN_CACHE <= 256
    assert next(m for m in matched if event["source"] in m) == {event["source"]}
    event["id"] = "not an id"
    assert not check(event)
    assert "not an id" not in ids
