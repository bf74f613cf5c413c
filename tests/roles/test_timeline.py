"""One market timeline: the three core role processes write exactly what the in-process chain writes on the
same market_ticks, whatever the scheduling (random pauses in every role) and through kill -9 restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.config.loader import load_config
from tests.core.realdata import load_ticks, merge_ticks
from tests.roles.core_run import make_run_dir
from tests.roles.timeline_run import chain_outputs, publish_ticks, role_outputs, run_roles

pytestmark = [pytest.mark.process, pytest.mark.usefixtures("binance_data")]


def _equal_to_chain(run_dir: Path, delay_ms: int, kill_every_s: float, seed: int, min_kills: int = 0) -> int:
    ctx = make_run_dir(run_dir)
    ticks = merge_ticks(load_ticks("BTCUSDT", False), load_ticks("ETHUSDT", False))
    n = publish_ticks(ctx, ticks)
    kills = run_roles(ctx, n - 1, delay_ms=delay_ms, kill_every_s=kill_every_s, seed=seed, min_kills=min_kills)
    expected, got = chain_outputs(ctx, load_config()), role_outputs(ctx)
    assert len(expected[("execution_role", "fills")]) > 0
    for key, lines in expected.items():
        assert got[key] == lines, f"{key}: {len(got[key])} lines vs {len(lines)} in process"
    return kills


@pytest.mark.parametrize("seed", [1, 2])
def test_random_pauses_in_every_role_change_nothing(tmp_path: Path, seed: int) -> None:
    _equal_to_chain(tmp_path / "run", delay_ms=25, kill_every_s=0.0, seed=seed)


def test_kill_9_of_random_core_roles_changes_nothing(tmp_path: Path) -> None:
    kills = _equal_to_chain(tmp_path / "run", delay_ms=5, kill_every_s=2.0, seed=7, min_kills=4)
    assert kills >= 4
