"""The contract registry: `config/contracts.v1.json` (R-C4, R-F2) loaded once, validators compiled once.

Schemas are JSON Schema 2020-12 files. They are compiled with fastjsonschema (generated Python code: a few
microseconds per event, which the queue's throughput target needs); they use only keywords whose meaning
is the same in draft-07 and 2020-12, and a test cross-checks every schema with jsonschema's 2020-12
validator on valid and invalid events. Most event types also get a faster check compiled from the same
schemas into msgspec types (minibot/contracts/typed.py): it says only "certainly valid", and whatever it
does not accept goes to the JSON Schema validators, which decide and name the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from minibot.contracts.typed import FastChecks

Validator = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class QueueContract:
    """What may be written to one queue, by whom, and who reads it (first consumer owns cursor.json)."""

    name: str
    types: frozenset[str]
    producers: frozenset[str]
    consumers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Registry:
    """Compiled validators and queue contracts."""

    envelope: Validator
    envelope_schema: Mapping[str, Any]
    payload_validators: Mapping[str, Validator]
    fast_checks: FastChecks
    payload_schemas: Mapping[str, Mapping[str, Any]]
    queues: Mapping[str, QueueContract]
    ai_readable_queues: frozenset[str]
    document: Mapping[str, Any]


def _read_package_json(*parts: str) -> Any:
    ref = resources.files("minibot")
    for part in parts:
        ref = ref.joinpath(part)
    return json.loads(ref.read_text(encoding="utf-8"))


def load_schema(path: str) -> dict[str, Any]:
    """A schema file by its path relative to `minibot/contracts/` (as written in contracts.v1.json)."""
    schema: dict[str, Any] = _read_package_json("contracts", *path.split("/"))
    return schema


@cache
def registry() -> Registry:
    """The process-wide registry (compiled on first use, then reused)."""
    doc = _read_package_json("config", "contracts.v1.json")
    envelope_schema = load_schema(doc["envelope_schema"])
    payload_schemas = {t: load_schema(p) for t, p in doc["types"].items()}
    queues = {
        name: QueueContract(name, frozenset(q["types"]), frozenset(q["producers"]), tuple(q["consumers"]))
        for name, q in doc["queues"].items()
    }
    return Registry(
        envelope=fastjsonschema.compile(envelope_schema),
        envelope_schema=envelope_schema,
        payload_validators={t: fastjsonschema.compile(s) for t, s in payload_schemas.items()},
        fast_checks=FastChecks(envelope_schema, payload_schemas),
        payload_schemas=payload_schemas,
        queues=queues,
        ai_readable_queues=frozenset(doc["ai_readable_queues"]),
        document=doc,
    )
