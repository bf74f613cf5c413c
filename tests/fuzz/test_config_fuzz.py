"""Fuzz: mutated configs (structure-aware and byte-level) end in ConfigInvalid or a usable config."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from minibot.config.loader import default_config_path, load_config
from minibot.config.rules import check_run_paths
from minibot.reasons import ConfigInvalid
from minibot.watchdog.options import RunOptions, config_as_used
from minibot.watchdog.procs import run_roles
from tests.fuzz.cases import CASES, FUZZ, flip_bytes, mutated, work_dir

SHIPPED_TEXT = default_config_path().read_text(encoding="utf-8")
SHIPPED = json.loads(SHIPPED_TEXT)
WORK = work_dir("nore-fuzz-config-")


def _load(data: bytes) -> dict[str, Any] | None:
    path = WORK / "nore.v1.json"
    path.write_bytes(data)
    try:
        cfg = config_as_used(RunOptions(config_path=path, duration="90s"))
    except ConfigInvalid as exc:
        assert exc.detail and "Traceback" not in exc.detail
        return None
    # accepted: every later step of starting a run can use it
    check_run_paths(cfg, "fuzz")
    assert run_roles(cfg)
    return cfg


@FUZZ
@given(mutated(SHIPPED))
def test_structure_aware_config_mutations(doc: Any) -> None:
    CASES["config (structure)"] += 1
    try:
        text = json.dumps(doc)  # NaN/Infinity are written as JSON's non-standard tokens on purpose
    except ValueError:  # a lone surrogate cannot be encoded: not a file anyone can write
        return
    _load(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.lists(st.integers(min_value=0), min_size=1, max_size=4), st.lists(st.integers(0, 255), max_size=4))
def test_byte_level_config_damage(positions: list[int], values: list[int]) -> None:
    CASES["config (bytes)"] += 1
    _load(flip_bytes(SHIPPED_TEXT.encode(), positions, values))


def test_shipped_config_loads() -> None:
    assert load_config() == SHIPPED
