"""The report's strategy input log section: per-queue totals, the last batches, and what use_ai means."""

from __future__ import annotations

from pathlib import Path

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.journal.atomic import read_critical_json
from minibot.metrics.report_data import RunData
from minibot.metrics.report_inputs import strategy_inputs
from minibot.roles.core_role import build_core, load_filters
from minibot.roles.runner import RoleRunner
from tests.roles.core_run import make_run_dir


def test_the_log_is_summed_per_queue_and_its_last_batches_listed(tmp_path: Path) -> None:
    ctx = make_run_dir(tmp_path)
    run = read_critical_json(tmp_path / "run.json")
    producer = ctx.producer("market_ticks", "market_role")
    tick = dict(EXAMPLE_PAYLOADS["market_tick"], exchange_ts=None)
    for n in range(3):  # three batches of two ticks
        producer.publish([producer.event("market_tick", {**tick, "trade_id": 2 * n + k}) for k in range(2)])
    producer.close()
    runner = RoleRunner(
        ctx, "strategy_role", build_core("strategy_role", run["config"], load_filters(tmp_path)), ["market_ticks"]
    )
    runner.run_once()
    runner.close()
    html = strategy_inputs(RunData(tmp_path, run=run))
    assert '<td>market_ticks</td><td class="num">1</td><td class="num">6</td>' in html
    assert "signals are a function of market_ticks alone" in html
    run["config"]["strategy"]["use_ai"] = True
    assert "taken when they arrived" in strategy_inputs(RunData(tmp_path, run=run))


def test_a_run_without_input_log_says_so(tmp_path: Path) -> None:
    assert "No input log" in strategy_inputs(RunData(tmp_path, run={}))
