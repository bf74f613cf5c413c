"""Fuzz: mutated simulator scenario files end in a Scenario or a ScenarioError naming the problem."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from minibot.sim.scenario import ScenarioError, load_scenario
from tests.fuzz.cases import CASES, FUZZ, flip_bytes, mutated, work_dir

ROOT = Path(__file__).resolve().parents[2]
# The documented example scenario (docs/simulator.md), so the fuzz starts from what users copy.
_EXAMPLE = re.search(r"```json\n(\{\n  \"version\": 1.*?\n\})\n```", (ROOT / "docs" / "simulator.md").read_text(), re.S)
assert _EXAMPLE is not None
EXAMPLE_TEXT = _EXAMPLE.group(1)
EXAMPLE = json.loads(EXAMPLE_TEXT)
WORK = work_dir("nore-fuzz-scenario-")


def _load(data: bytes) -> None:
    path = WORK / "scenario.json"
    path.write_bytes(data)
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        assert str(exc).startswith(str(path))
        return
    for fault in scenario.faults:  # an accepted scenario is usable at any instant of the run
        for t in (0, 1, 10**6, 10**12):
            fault.occurrence(t)
            fault.starts_until(t)
            fault.matches_path("/api/v3/depth")
            fault.matches_symbol("BTCUSDT")


def test_example_loads() -> None:
    assert len(load_scenario(EXAMPLE).faults) == len(EXAMPLE["faults"])


@FUZZ
@given(mutated(EXAMPLE, max_mutations=3))
def test_structure_aware_scenario_mutations(doc: Any) -> None:
    CASES["scenario (structure)"] += 1
    _load(json.dumps(doc).encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.lists(st.integers(min_value=0), min_size=1, max_size=4), st.lists(st.integers(0, 255), max_size=4))
def test_byte_level_scenario_damage(positions: list[int], values: list[int]) -> None:
    CASES["scenario (bytes)"] += 1
    _load(flip_bytes(EXAMPLE_TEXT.encode(), positions, values))


def test_deep_and_non_utf8_scenarios() -> None:
    for data in (b"[" * 200_000 + b"]" * 200_000, EXAMPLE_TEXT.encode("utf-16"), b'{"name": "\xff"}'):
        _load(data)
