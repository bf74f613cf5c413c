"""The silence rule (minibot/liveness.py): the supervisor's wall-clock threshold and the metrics' run-clock
threshold are one rule read in two units."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minibot.liveness import MIN_SILENT_S, silent_after_run_ms, silent_after_wall_s


@given(silent_after_s=st.integers(1, 3600), speed=st.floats(0.1, 120.0))
def test_the_two_units_state_one_threshold(silent_after_s: int, speed: float) -> None:
    cfg = float(silent_after_s)
    wall_s = silent_after_wall_s(cfg, speed)
    assert silent_after_run_ms(cfg, speed) == pytest.approx(wall_s * speed * 1000.0, rel=1e-12)
    assert wall_s >= MIN_SILENT_S


def test_the_wall_floor_applies_only_when_the_run_clock_is_fast() -> None:
    cfg = 60.0
    assert silent_after_wall_s(cfg, 1.0) == 60.0 and silent_after_run_ms(cfg, 1.0) == 60_000.0
    assert silent_after_wall_s(cfg, 60.0) == MIN_SILENT_S and silent_after_run_ms(cfg, 60.0) == 600_000.0
