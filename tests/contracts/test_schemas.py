"""Contracts (R-C2..C4): schemas are 2020-12, the fast validators agree with jsonschema, constraints are real."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from minibot.contracts.envelope import validate_event
from minibot.contracts.examples import EXAMPLE_PAYLOADS, example_event
from minibot.contracts.registry import registry
from minibot.reasons import ContractViolation

TYPES = sorted(registry().payload_schemas)


def test_registry_is_the_single_source_of_truth() -> None:
    doc = json.loads(resources.files("minibot.config").joinpath("contracts.v1.json").read_text())
    schema_dir = resources.files("minibot.contracts").joinpath("schemas")
    shipped = {p.name for p in schema_dir.iterdir() if p.name.endswith(".schema.json")}
    assert {path.split("/")[-1] for path in doc["types"].values()} | {"envelope.schema.json"} == shipped
    for queue in doc["queues"].values():
        assert set(queue["types"]) <= set(doc["types"])


@pytest.mark.parametrize("type_", TYPES)
def test_schema_is_2020_12_and_example_valid(type_: str) -> None:
    schema = registry().payload_schemas[type_]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    validate_event(example_event(type_))


def _agree(schema: dict[str, Any], payload: Any, fast: Any) -> None:
    reference = Draft202012Validator(schema).is_valid(payload)
    try:
        fast(payload)
        fast_ok = True
    except Exception:
        fast_ok = False
    assert fast_ok == reference, (payload, reference)


mutations = st.sampled_from([None, True, -1, 0, 0.5, 1.5, 10**20, "", "x", "BTCUSDT", [], {}, "BUY", "SELL"])


@settings(max_examples=400)
@given(st.sampled_from(TYPES), st.data())
def test_fast_validator_agrees_with_jsonschema(type_: str, data: st.DataObject) -> None:
    payload = dict(EXAMPLE_PAYLOADS[type_])
    keys = sorted(payload)
    for key in data.draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        if data.draw(st.booleans()):
            del payload[key]
        else:
            payload[key] = data.draw(mutations)
    _agree(registry().payload_schemas[type_], payload, registry().payload_validators[type_])


@pytest.mark.parametrize(
    ("type_", "field", "value"),
    [
        ("market_tick", "price", 0),
        ("market_tick", "price", -1.0),
        ("market_tick", "symbol", "btcusdt"),
        ("signal", "confidence", 1.01),
        ("signal", "side", "HOLD"),
        ("order_intent", "qty", 0),
        ("order_intent", "client_order_id", "has space"),
        ("fill", "fee", -0.1),
        ("ai_recommendation", "probability", -0.01),
        ("ai_recommendation", "feature_hash", "xyz"),
        ("stop_journal", "reason_code", "lower_case"),
    ],
)
def test_real_constraints(type_: str, field: str, value: Any) -> None:
    event = example_event(type_)
    event["payload"][field] = value
    with pytest.raises(ContractViolation):
        validate_event(event)


def test_limit_order_needs_a_price_and_rejection_a_reason() -> None:
    event = example_event("order_intent")
    event["payload"]["order_type"] = "LIMIT"
    with pytest.raises(ContractViolation, match="price"):
        validate_event(event)
    result = example_event("order_result")
    result["payload"]["result"] = "REJECTED"
    with pytest.raises(ContractViolation, match="reason_code"):
        validate_event(result)
