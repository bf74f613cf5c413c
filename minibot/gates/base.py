"""Gate results and the gate table."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minibot.reasons import Refusal

PASS = "PASS"
FAIL = "FAIL"
NOT_BUILT = "NOT BUILT"


@dataclass(frozen=True, slots=True)
class GateResult:
    """One row of `nore gates`."""

    name: str
    requirement: str
    status: str
    detail: str


GateFn = Callable[[Path], str]
"""A gate runs in a temporary folder and returns a one-line detail; it raises GateFailed to fail."""


class GateFailed(Refusal):
    """A gate's check did not hold; the message is the one-line detail."""


# (name, requirement, "module:function"). A gate whose module does not exist yet is NOT BUILT.
GATES: list[tuple[str, str, str]] = [
    ("runtime_smoke", "R-Q1", "minibot.watchdog.smoke:runtime_smoke_gate"),
    ("schema_gate", "R-Q2", "minibot.gates.schema_gate:schema_gate"),
    ("ai_isolation_gate", "R-Q3", "minibot.ai.isolation_gate:ai_isolation_gate"),
    ("atomic_io_gate", "R-Q4", "minibot.gates.atomic_io_gate:atomic_io_gate"),
]


def run_gate(name: str, requirement: str, target: str, workdir: Path) -> GateResult:
    """Run one gate, mapping its outcome to PASS / FAIL / NOT BUILT."""
    module_name, func_name = target.split(":")
    if importlib.util.find_spec(module_name) is None:
        return GateResult(name, requirement, NOT_BUILT, f"{module_name} does not exist yet")
    try:
        fn: GateFn = getattr(importlib.import_module(module_name), func_name)
        workdir.mkdir(parents=True, exist_ok=True)
        return GateResult(name, requirement, PASS, fn(workdir))
    except GateFailed as exc:
        return GateResult(name, requirement, FAIL, str(exc))
    except Exception as exc:  # a crashing gate is a failing gate, reported, never a traceback dump
        return GateResult(name, requirement, FAIL, f"{type(exc).__name__}: {exc}")
