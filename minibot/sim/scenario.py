"""Fault scenario files: parsing, strict validation, and which faults are active at a run-clock instant.

All times in a scenario are run-clock milliseconds measured from the simulator's start, so `--speed N`
compresses windows and delays along with the market. docs/simulator.md documents the format.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minibot.reasons import Refusal

KINDS = (
    "latency",
    "http_5xx",
    "http_429",
    "outage",
    "ws_disconnect",
    "silent_stream",
    "malformed_frames",
    "clock_skew",
    "depth_gap",
    "stale_book",
)
_COMMON = {"kind", "at_ms", "duration_ms", "every_ms", "count", "note"}
_PARAMS: dict[str, dict[str, Any]] = {
    "latency": {"delay_ms": None, "jitter_ms": 0, "target": "rest", "paths": None},
    "http_5xx": {"status": 503, "probability": 1.0, "paths": None},
    "http_429": {"status": 429, "retry_after_s": 1, "probability": 1.0, "paths": None},
    "outage": {"mode": "refuse"},
    "ws_disconnect": {"mode": "abort", "close_code": 1001},
    "silent_stream": {"symbols": None},
    "malformed_frames": {"every_n": 10, "symbols": None},
    "clock_skew": {"offset_ms": None},
    "depth_gap": {"symbols": None},
    "stale_book": {"symbols": None},
}
_CHOICES: dict[str, tuple[Any, ...]] = {
    "target": ("rest", "ws", "both"),
    "mode_outage": ("refuse", "reset"),
    "mode_ws_disconnect": ("abort", "close"),
    "status_http_5xx": (500, 502, 503, 504),
    "status_http_429": (429, 418),
}


class ScenarioError(Refusal, ValueError):
    """A scenario file that is not valid; the message names the file and the offending key."""


@dataclass(frozen=True)
class Fault:
    """One fault window (repeating every `every_ms` for `count` times when given) and its parameters."""

    kind: str
    at_ms: int
    duration_ms: int
    every_ms: int | None = None
    count: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def occurrence(self, elapsed_ms: int) -> int | None:
        """Index of the window containing `elapsed_ms` run-clock ms after start, or None."""
        if elapsed_ms < self.at_ms:
            return None
        offset = elapsed_ms - self.at_ms
        if self.every_ms is None:
            return 0 if offset < max(self.duration_ms, 1) else None
        k = offset // self.every_ms
        if self.count is not None and k >= self.count:
            return None
        return k if offset - k * self.every_ms < max(self.duration_ms, 1) else None

    def starts_until(self, elapsed_ms: int) -> int:
        """How many windows have started at or before `elapsed_ms` (edge-triggered faults fire on each)."""
        if elapsed_ms < self.at_ms:
            return 0
        if self.every_ms is None:
            return 1
        started = (elapsed_ms - self.at_ms) // self.every_ms + 1
        return started if self.count is None else min(started, self.count)

    def matches_path(self, path: str) -> bool:
        """Whether a REST fault applies to this request path (all /api/ paths unless `paths` is given)."""
        paths = self.params.get("paths")
        if paths is None:
            return path.startswith("/api/")
        return any(path.startswith(p) for p in paths)

    def matches_symbol(self, symbol: str) -> bool:
        """Whether a stream fault applies to this symbol (all unless `symbols` is given)."""
        symbols = self.params.get("symbols")
        return symbols is None or symbol in symbols


@dataclass(frozen=True)
class WsSettings:
    """WebSocket connection rules. Ping/pong times are wall seconds (transport liveness, not market time)."""

    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    max_incoming_per_s: int = 5
    max_lifetime_ms: int = 86_400_000
    max_queue: int = 100_000


@dataclass(frozen=True)
class RateLimitSettings:
    """REQUEST_WEIGHT limit per run-clock minute and the 418 ban policy."""

    weight_per_minute: int = 6000
    ban_after: int = 10
    ban_ms: int = 120_000


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario: faults plus connection and rate-limit settings."""

    faults: tuple[Fault, ...] = ()
    ws: WsSettings = WsSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    name: str = ""


def load_scenario(source: str | Path | dict[str, Any] | None) -> Scenario:
    """Parse a scenario from a JSON file path or an already-parsed dict; None gives the empty scenario."""
    if source is None:
        return Scenario()
    where = "scenario"
    if isinstance(source, dict):
        doc: Any = source
    else:
        path = Path(source)
        where = str(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScenarioError(f"{where}: cannot read: {exc}") from exc
        except ValueError as exc:  # also a file that is not UTF-8
            raise ScenarioError(f"{where}: not valid JSON: {exc}") from exc
        except RecursionError:
            raise ScenarioError(f"{where}: nested too deeply to be a scenario") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: top level must be an object")
    _no_extra(doc, {"version", "name", "description", "faults", "ws", "rate_limit"}, where)
    if doc.get("version", 1) != 1:
        raise ScenarioError(f"{where}: version must be 1")
    faults_doc = doc.get("faults", [])
    if not isinstance(faults_doc, list):
        raise ScenarioError(f"{where}: faults must be a list")
    faults = tuple(_fault(f, f"{where}: faults[{i}]") for i, f in enumerate(faults_doc))
    ws = WsSettings(**_section(doc.get("ws", {}), WsSettings(), f"{where}: ws"))
    rl = RateLimitSettings(**_section(doc.get("rate_limit", {}), RateLimitSettings(), f"{where}: rate_limit"))
    return Scenario(faults, ws, rl, str(doc.get("name", "")))


def _no_extra(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}")


def _section(obj: Any, defaults: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ScenarioError(f"{where}: must be an object")
    allowed = set(defaults.__dataclass_fields__)
    _no_extra(obj, allowed, where)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        default = getattr(defaults, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise ScenarioError(f"{where}.{key}: must be a finite non-negative number")
        if isinstance(default, int) and not isinstance(value, int):
            raise ScenarioError(f"{where}.{key}: must be an integer")
        out[key] = value
    return out


def _int(obj: dict[str, Any], key: str, where: str, default: int | None = None, minimum: int = 0) -> int | None:
    value = obj.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScenarioError(f"{where}.{key}: must be an integer >= {minimum}")
    return value


def _fault(obj: Any, where: str) -> Fault:
    if not isinstance(obj, dict):
        raise ScenarioError(f"{where}: must be an object")
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in _PARAMS:
        raise ScenarioError(f"{where}.kind: must be one of {', '.join(KINDS)} (got {kind!r})")
    spec = _PARAMS[kind]
    _no_extra(obj, _COMMON | set(spec), where)
    at_ms = _int(obj, "at_ms", where)
    if at_ms is None:
        raise ScenarioError(f"{where}.at_ms: required (run-clock ms after start)")
    duration = _int(obj, "duration_ms", where, 0) or 0
    every = _int(obj, "every_ms", where, None, minimum=1)
    count = _int(obj, "count", where, None, minimum=1)
    if every is not None and every < duration:
        raise ScenarioError(f"{where}.every_ms: must be >= duration_ms")
    params: dict[str, Any] = {}
    for key, default in spec.items():
        value = obj.get(key, default)
        if value is None and key in ("delay_ms", "offset_ms"):
            raise ScenarioError(f"{where}.{key}: required for kind {kind}")
        params[key] = _check_param(kind, key, value, where)
    return Fault(kind, at_ms, duration, every, count, params)


def _check_param(kind: str, key: str, value: Any, where: str) -> Any:
    if value is None:
        return None
    if key in ("symbols", "paths"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ScenarioError(f"{where}.{key}: must be a list of non-empty strings")
        return tuple(v.upper() for v in value) if key == "symbols" else tuple(value)
    if key == "probability":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ScenarioError(f"{where}.probability: must be a number in [0, 1]")
        return float(value)
    if key == "offset_ms":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{where}.offset_ms: must be an integer (negative = server behind)")
        return value
    for choice_key in (f"{key}_{kind}", key):
        if choice_key in _CHOICES:
            if value not in _CHOICES[choice_key]:
                raise ScenarioError(f"{where}.{key}: must be one of {_CHOICES[choice_key]} (got {value!r})")
            return value
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "every_n" else 0):
        raise ScenarioError(f"{where}.{key}: must be a non-negative integer")
    return value
