"""Load and validate `nore.v1.json` (R-F1); anything off is `ConfigInvalid` naming the key path.

The schema is `config/schema/nore.v1.schema.json` with one fragment per section (`binance.schema.json`,
`risk.schema.json`, ...), each owned by the package that uses the section. Validation uses jsonschema's
2020-12 validator (config is read once, so its precise error paths matter more than speed). It is imported
on first validation: role processes read the config validated by the supervisor from run.json and never
validate, and jsonschema + referencing cost ~7.5 MB of RSS per process (issue 14, item 4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minibot.config.rules import check_run_paths, check_structure
from minibot.reasons import ConfigInvalid

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

DEFAULT_CONFIG_NAME = "nore.v1.json"
_SCHEMA_DIR = "schema"


def default_config_path() -> Path:
    """Path of the shipped `minibot/config/nore.v1.json`."""
    return Path(str(resources.files("minibot.config").joinpath(DEFAULT_CONFIG_NAME)))


@cache
def _schemas() -> dict[str, Any]:
    folder = resources.files("minibot.config").joinpath(_SCHEMA_DIR)
    return {
        entry.name: json.loads(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".schema.json")
    }


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = _schemas()
    reg: Registry[Any] = Registry().with_resources(
        (name, Resource.from_contents(schema)) for name, schema in schemas.items()
    )
    top = schemas["nore.v1.schema.json"]
    Draft202012Validator.check_schema(top)
    return Draft202012Validator(top, registry=reg)


def _describe(err: ValidationError) -> str:
    path = ".".join(str(p) for p in err.absolute_path) or "<root>"
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        return f"{path}: {err.message}; allowed keys: {allowed}"
    if err.validator == "required":
        return f"{path}: {err.message}"
    expected = err.schema.get("description")
    hint = f" (expected: {expected})" if expected else ""
    return f"{path}: {err.message}{hint}"


def validate_config(doc: Any, where: str = "config") -> None:
    """Raise ConfigInvalid with every problem, each as `key.path: what is wrong (what was expected)`."""
    check_structure(doc, where)
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "; ".join(_describe(e) for e in errors[:10])
        more = f" (+{len(errors) - 10} more)" if len(errors) > 10 else ""
        raise ConfigInvalid(f"{where}: {lines}{more}")


BASE_QUEUES = (
    "market_ticks",
    "signals",
    "risk_actions",
    "order_intents",
    "order_results",
    "fills",
    "health",
    "stop_journal",
)


def _check_queue_names(doc: Mapping[str, Any], where: str) -> None:
    """Rules JSON Schema cannot express: the R-A2 base queues are present and every queue is in contracts."""
    from minibot.contracts.registry import registry

    names = doc["queues"]["names"]
    missing = [q for q in BASE_QUEUES if q not in names]
    if missing:
        raise ConfigInvalid(f"{where}: queues.names: misses the base queues {missing} (R-A2)")
    unknown = [q for q in names if q not in registry().queues]
    if unknown:
        raise ConfigInvalid(f"{where}: queues.names: {unknown} are not declared in contracts.v1.json")
    overrides = [q for q in doc["queues"].get("fsync_overrides", {}) if q not in names]
    if overrides:
        raise ConfigInvalid(f"{where}: queues.fsync_overrides: {overrides} are not in queues.names")


def with_schema_defaults(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a valid `doc` with every optional key the schema gives a `default` filled in where absent.

    The schema is the one place an optional key's default is stated: the typed views (`minibot.sectionview`)
    never supply one, and a view of a section with optional keys is built from this copy. The loaded config
    itself stays as written (it is what run.json records)."""

    def fill(schema: Mapping[str, Any], value: Any) -> Any:
        schema = _schemas()[schema["$ref"]] if "$ref" in schema else schema
        if not isinstance(value, Mapping):
            return value
        out = dict(value)
        for key, sub in schema.get("properties", {}).items():
            if key in out:
                out[key] = fill(sub, out[key])
            elif "default" in sub:
                out[key] = sub["default"]
        return out

    filled: dict[str, Any] = fill(_schemas()["nore.v1.schema.json"], doc)
    return filled


def parse_config_text(data: bytes, where: str) -> Any:
    """Strict UTF-8 JSON -> a document; anything else (UTF-16, a stray byte, NaN, absurd nesting) is ConfigInvalid."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigInvalid(f"{where}: the file is UTF-16 (byte order mark); save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigInvalid(
            f"{where}: byte {exc.start} (0x{data[exc.start]:02x}) is not UTF-8; save it as UTF-8"
        ) from None
    try:
        # NaN/Infinity/1e400 parse to non-finite floats on purpose: check_structure then names their key path
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigInvalid(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise ConfigInvalid(f"{where}: not valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigInvalid(f"{where}: nested too deeply to be a config") from None


def load_config(path: Path | str | None = None) -> dict[str, Any]:
    """Read, parse and validate a config file (default: the shipped nore.v1.json)."""
    p = Path(path) if path is not None else default_config_path()
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigInvalid(f"{p}: cannot read config file: {exc.strerror}") from None
    doc = parse_config_text(raw, str(p))
    validate_config(doc, str(p))
    _check_queue_names(doc, str(p))
    check_run_paths(doc, str(p))
    result: dict[str, Any] = doc
    return result


def with_overrides(cfg: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep-merged copy of `cfg` with `overrides` applied, validated again."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, Mapping) and isinstance(over, Mapping):
            out = dict(base)
            for k, v in over.items():
                out[k] = merge(base.get(k), v)
            return out
        return over

    merged: dict[str, Any] = merge(cfg, overrides)
    validate_config(merged, "config with overrides")
    _check_queue_names(merged, "config with overrides")
    check_run_paths(merged, "config with overrides")
    return merged
