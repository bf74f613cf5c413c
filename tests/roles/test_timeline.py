"""One market timeline: the three core role processes write exactly what the in-process chain writes on the
same market_ticks, whatever the scheduling (random pauses in every role) and through kill -9 restarts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from minibot.config.loader import load_config
from tests.core.realdata import load_ticks, merge_ticks
from tests.roles.core_run import make_run_dir
from tests.roles.timeline_run import chain_outputs, publish_ticks, role_outputs, run_roles

pytestmark = [pytest.mark.process, pytest.mark.usefixtures("binance_data")]


def _resting_orders() -> dict[str, Any]:
    """The shipped config with LIMIT orders that rest behind the touch, expire, and are refused as stale soon:
    the executor then writes at later ticks of an order's symbol and, for a stale one, at another symbol's
    tick, which is where risk_role must wait for its watermark (minibot/roles/timeline_schedule.py)."""
    config = load_config()
    config["risk"].update(order_type="LIMIT", limit_offset_bps=1.0)
    config["execution"].update(limit_ttl_ms=20_000, max_quote_age_ms=100)
    return config


def _equal_to_chain(
    run_dir: Path,
    delay_ms: int,
    kill_every_s: float,
    seed: int,
    min_kills: int = 0,
    config: dict[str, Any] | None = None,
) -> tuple[int, dict[tuple[str, str], list[bytes]]]:
    """Run the three role processes on the recorded ticks; their outputs must equal the in-process chain's.
    Returns the kills made and the outputs."""
    config = load_config() if config is None else config
    ctx = make_run_dir(run_dir, config=config)
    ticks = merge_ticks(load_ticks("BTCUSDT", False), load_ticks("ETHUSDT", False))
    n = publish_ticks(ctx, ticks)
    kills = run_roles(ctx, n - 1, delay_ms=delay_ms, kill_every_s=kill_every_s, seed=seed, min_kills=min_kills)
    expected, got = chain_outputs(ctx, config), role_outputs(ctx)
    assert len(expected[("execution_role", "fills")]) > 0
    for key, lines in expected.items():
        assert got[key] == lines, f"{key}: {len(got[key])} lines vs {len(lines)} in process"
    return kills, expected


def test_random_pauses_in_every_role_change_nothing(tmp_path: Path) -> None:
    _equal_to_chain(tmp_path / "run", delay_ms=25, kill_every_s=0.0, seed=1)


def test_random_pauses_change_nothing_with_resting_and_stale_orders(tmp_path: Path) -> None:
    """The same with orders that rest, fill as maker, expire and are refused as stale (all four happen)."""
    _, outputs = _equal_to_chain(tmp_path / "run", delay_ms=25, kill_every_s=0.0, seed=2, config=_resting_orders())
    results = Counter(orjson.loads(line)["payload"]["result"] for line in outputs[("execution_role", "order_results")])
    assert min(results[r] for r in ("NEW", "FILLED", "EXPIRED", "REJECTED")) > 0, results


def test_kill_9_of_random_core_roles_changes_nothing(tmp_path: Path) -> None:
    kills, _ = _equal_to_chain(tmp_path / "run", delay_ms=5, kill_every_s=2.0, seed=7, min_kills=4)
    assert kills >= 4
