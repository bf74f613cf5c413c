"""The fast path of event validation: contract JSON Schemas compiled into msgspec types (R-C2, R-C3, issue 14).

The JSON Schema files stay the single source of truth: nothing here is written by hand per event type. At
registry load each event type's envelope + payload schema is translated into one msgspec `Struct` (C code:
types, required fields, bounds, lengths, enums, unknown fields) plus string patterns checked here (msgspec
would run the regex on every value; most patterned values repeat, such as source, run_id and symbol, so a
small cache of values already matched saves most of that).

A fast check answers only "certainly valid" (True) or "not certain" (False); False sends the event to the
compiled JSON Schema validators, which decide and name the reason. So an event is valid exactly when the
JSON Schema says so, provided every event the fast check accepts is schema-valid; tests/contracts/
test_typed.py checks that on generated events (and that both agree on every event without an integral float
in an integer field, which only the JSON Schema accepts). To keep that provable the translation covers a
small subset of JSON Schema and gives up (no fast path for the type: `None`) on anything else:
- the payload is a flat object: properties of type string / number / integer / boolean / null (or a list of
  those), or arrays of such scalars or of fixed-length arrays of them (`prefixItems` with minItems =
  maxItems); `additionalProperties` true, false or absent;
- keywords: pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, enum and
  const of strings (const 1 of an integer too), items, prefixItems, minItems, maxItems; annotations.
Where msgspec is more lenient than the JSON Schema validator for Python objects (any Mapping as an object,
a set as an array), the check itself requires a dict or a list/tuple. Patterns are compiled as the JSON
Schema validator compiles them (`$` means the end of the string, not before a final newline).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

FastCheck = Callable[[Any], bool]

_ANNOTATIONS = frozenset(("$schema", "$id", "$comment", "title", "description", "examples"))
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
_SCALAR_KEYWORDS = frozenset({"type", "pattern", "minLength", "maxLength", "enum", "const", *_BOUNDS})
_ARRAY_KEYWORDS = frozenset(("type", "items", "prefixItems", "minItems", "maxItems"))
_SCALARS: Mapping[str, Any] = {"string": str, "number": float, "integer": int, "boolean": bool, "null": type(None)}
_DOLLAR = re.compile(r"(?<!\\)\$")  # an unescaped `$`: matches only at the very end, as in JSON Schema
PATTERN_CACHE = 256
"""Matched values remembered per pattern and event type; all are forgotten when one more would not fit. The
values worth remembering repeat and are few (source, run_id, cmdline_hash, symbol, instance) and come back
at once; unique ones (event ids, timestamps) never hit, and 4,096 of them per pattern and event type held
~0.6 MB in every process (issue 14, item 4). A set emptied when full costs a unique value less than a least
recently used cache's bookkeeping (~0.15 us per value, twice per event: issue 14, item 3)."""


class Unsupported(Exception):
    """A schema uses something outside the subset translated here (the type gets no fast path)."""


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A JSON Schema `pattern` as a Python regex searched anywhere in the string, `$` anchored at the end."""
    return re.compile(_DOLLAR.sub(r"\\Z", pattern))


class Pattern(NamedTuple):
    """The pattern check of one string property: the compiled regex and the values it already matched."""

    key: str
    search: Callable[[str], re.Match[str] | None]
    matched: set[str]


def _pattern(key: str, pattern: str) -> Pattern:
    return Pattern(key, compile_pattern(pattern).search, set())


def _only(schema: Mapping[str, Any], allowed: frozenset[str]) -> None:
    extra = set(schema) - allowed - _ANNOTATIONS
    if extra:
        raise Unsupported(f"keywords {sorted(extra)}")


def _scalar(schema: Mapping[str, Any]) -> Any:
    """The msgspec type of a scalar property schema (its pattern is checked outside msgspec)."""
    _only(schema, _SCALAR_KEYWORDS)
    names = schema.get("type")
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or any(n not in _SCALARS for n in names):
        raise Unsupported(f"type {names!r}")
    if "enum" in schema or "const" in schema:
        values = schema["enum"] if "enum" in schema else [schema["const"]]
        ints = names == ["integer"] and all(type(v) is int for v in values)
        if not (ints or (names == ["string"] and all(type(v) is str for v in values))):
            raise Unsupported(f"enum/const {values!r} of type {names!r}")
        return Literal[tuple(values)]
    meta: dict[str, Any] = {}
    for keyword, name in _BOUNDS.items():
        if keyword in schema:
            if not set(names) <= {"number", "integer", "null"} or type(schema[keyword]) not in (int, float):
                raise Unsupported(f"{keyword} on {names!r}")
            meta[name] = schema[keyword]
    for keyword, name in (("minLength", "min_length"), ("maxLength", "max_length")):
        if keyword in schema:
            if not set(names) <= {"string", "null"}:
                raise Unsupported(f"{keyword} on {names!r}")
            meta[name] = schema[keyword]
    if "pattern" in schema and not set(names) <= {"string", "null"}:
        raise Unsupported(f"pattern on {names!r}")
    types = []
    for name in names:
        kind = _SCALARS[name]
        types.append(Annotated[kind, msgspec.Meta(**meta)] if meta and name != "null" else kind)
    result = types[0]
    for kind in types[1:]:
        result = result | kind
    return result


def _array(schema: Mapping[str, Any]) -> Any:
    """The msgspec type of an array property: of scalars, or of fixed-length arrays of scalars."""
    _only(schema, _ARRAY_KEYWORDS)
    items = schema.get("items")
    if "prefixItems" in schema:
        prefix = schema["prefixItems"]
        if items is not None or not (schema.get("minItems") == schema.get("maxItems") == len(prefix)):
            raise Unsupported("prefixItems without a fixed length")
        if any("pattern" in p for p in prefix):
            raise Unsupported("pattern inside an array")
        # A fixed-length tuple: msgspec refuses sets for it, as the JSON Schema validator does.
        return tuple[tuple(_scalar(p) for p in prefix)]  # type: ignore[misc]
    if not isinstance(items, Mapping) or "pattern" in items:
        raise Unsupported("array without items, or with patterned items")
    if items.get("type") == "array" and "prefixItems" not in items:
        raise Unsupported("array of variable-length arrays")  # msgspec would take a set for the inner ones
    inner = _array(items) if items.get("type") == "array" else _scalar(items)
    meta = {n: schema[k] for k, n in (("minItems", "min_length"), ("maxItems", "max_length")) if k in schema}
    return Annotated[list[inner], msgspec.Meta(**meta)] if meta else list[inner]  # type: ignore[valid-type]


def _object(
    name: str, schema: Mapping[str, Any], replace: Mapping[str, Any]
) -> tuple[type[msgspec.Struct], list[Pattern], list[str]]:
    """(Struct, pattern checks, array fields) of a flat object schema; `replace` gives some properties' types."""
    _only(schema, frozenset(("type", "properties", "required", "additionalProperties")))
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    if schema.get("type") != "object" or type(extra) is not bool or not set(required) <= set(properties):
        raise Unsupported(f"{name}: not a flat object schema")
    fields: list[tuple[str, Any, Any]] = []
    patterns: list[Pattern] = []
    arrays: list[str] = []
    for index, (key, prop) in enumerate(properties.items()):
        if key in replace:
            kind = replace[key]
        elif prop.get("type") == "array":
            kind = _array(prop)
            arrays.append(key)
        else:
            kind = _scalar(prop)
            if "pattern" in prop:
                patterns.append(_pattern(key, prop["pattern"]))
        default = msgspec.NODEFAULT if key in required else None
        fields.append((f"f{index}", kind, msgspec.field(name=key, default=default)))
    struct = msgspec.defstruct(name, fields, kw_only=True, forbid_unknown_fields=not extra)
    return struct, patterns, arrays


def _validates(schema: Mapping[str, Any], value: str) -> bool:
    """Whether the string property schema `schema` (type string, maybe a pattern) accepts `value`."""
    _only(schema, frozenset(("type", "pattern")))
    return schema.get("type") == "string" and compile_pattern(schema.get("pattern", "")).search(value) is not None


def compile_fast_check(type_: str, envelope_schema: Mapping[str, Any], payload_schema: Mapping[str, Any]) -> FastCheck:
    """The fast check of events of `type_`; raises Unsupported when the schemas are outside the subset."""
    properties = envelope_schema.get("properties", {})
    if properties.get("payload") != {"type": "object"}:
        raise Unsupported("envelope payload is not a plain object")
    if not _validates(properties.get("type", {}), type_):
        raise Unsupported(f"{type_!r} is not a valid envelope type")
    payload, payload_patterns, arrays = _object(f"{type_}_payload", payload_schema, {})
    # The check of one type accepts only events of that type: `type` is that exact string.
    replace = {"payload": payload, "type": Literal[type_]}
    envelope, envelope_patterns, _ = _object(f"{type_}_event", envelope_schema, replace)
    return _generate(type_, envelope, envelope_patterns, payload_patterns, arrays)


def _generate(
    type_: str,
    envelope: type[msgspec.Struct],
    envelope_patterns: list[Pattern],
    payload_patterns: list[Pattern],
    arrays: list[str],
) -> FastCheck:
    """The check as straight-line code, one block per pattern and array field: a loop over the fields (tuple
    unpacking, the level lookup) cost ~1 us of ~2.7 per market tick (issue 14, item 3). Only names and the
    keys' reprs go into the source; the patterns are bound through the function's namespace."""
    lines = [
        "def check(event):",
        "    if type(event) is not dict:",
        "        return False",
        "    body = event.get('payload')",
        "    if type(body) is not dict:",
        "        return False",
        "    try:",
        "        convert(event, envelope)",
        "    except invalid:",
        "        return False",
    ]
    namespace: dict[str, Any] = {
        "convert": msgspec.convert,
        "invalid": msgspec.ValidationError,
        "envelope": envelope,
        "CACHE": PATTERN_CACHE,
    }
    levels = [("event", p) for p in envelope_patterns] + [("body", p) for p in payload_patterns]
    for n, (level, pattern) in enumerate(levels):
        namespace[f"search{n}"], namespace[f"matched{n}"] = pattern.search, pattern.matched
        lines += [
            f"    value = {level}.get({pattern.key!r})",
            f"    if value is not None and value not in matched{n}:",
            f"        if search{n}(value) is None:",
            "            return False",
            f"        if len(matched{n}) >= CACHE:",
            f"            matched{n}.clear()",
            f"        matched{n}.add(value)",
        ]
    for key in arrays:  # msgspec takes any iterable as a list; JSON Schema only a list or tuple
        lines += [
            f"    value = body.get({key!r})",
            "    if value is not None and type(value) is not list and type(value) is not tuple:",
            "        return False",
        ]
    lines.append("    return True")
    exec(compile("\n".join(lines), f"<fast check of {type_}>", "exec"), namespace)
    check: FastCheck = namespace["check"]
    return check


class FastChecks:
    """The fast check of each event type, compiled on its first use: a process reads only a few types, and
    compiling all of them would add to every role's start."""

    def __init__(self, envelope_schema: Mapping[str, Any], payload_schemas: Mapping[str, Mapping[str, Any]]) -> None:
        self._envelope = envelope_schema
        self._schemas = payload_schemas
        self._checks: dict[str, FastCheck | None] = {}

    def get(self, type_: str) -> FastCheck | None:
        """The check of `type_`, or None (an unknown type, or schemas outside the subset)."""
        if type_ in self._checks:
            return self._checks[type_]
        schema = self._schemas.get(type_)
        if schema is None:
            return None  # not remembered: unknown type names must not grow this
        try:
            check: FastCheck | None = compile_fast_check(type_, self._envelope, schema)
        except Unsupported:
            check = None
        self._checks[type_] = check
        return check

    def supported(self) -> list[str]:
        """Every event type that has a fast check (compiles them all)."""
        return sorted(t for t in self._schemas if self.get(t) is not None)
