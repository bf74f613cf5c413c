"""`nore replay RUN_DIR`: re-run the trading core on a run's recorded inputs and compare every output.

For each core role (strategy_role, risk_role, execution_role) a fresh core is built from `run.json`'s config
and `exchange_info.json` (`minibot.roles.core_role.build_core`, the very code the role processes use) and fed
the role's recorded input log through `replay_log`, the function restart recovery uses. Each regenerated
output envelope is compared byte for byte (canonical orjson: sorted keys) with the recorded line in its
output queue, in order, counting only the role's core outputs (`is_core_output`: heartbeats, timing events
and process-level STOP entries are not core outputs, and stop_journal has several producers).

strategy_role replays the recorded market_ticks and ai_recommendations; risk_role and execution_role replay
the recorded outputs of the other roles, so with every role identical the whole chain from market data to
fills is reproduced. The first difference of each role is printed as
`<queue>/inbox.jsonl line K: expected <field> = <recorded>, got <replayed>` (lines count from 1 per file).
The comparison is `minibot.backtest.compare`, shared with `--from-market` (`from_market.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer

from minibot.backtest.compare import OutputComparer, RoleReplay
from minibot.backtest.from_market import replay_from_market
from minibot.config.loader import validate_config
from minibot.config.views import QueuesConfig
from minibot.journal.atomic import read_critical_json
from minibot.journal.context import RunContext
from minibot.model.filters import SymbolFilters
from minibot.reasons import ConfigInvalid, NoreError
from minibot.rolenames import TRADING_CORE_ROLES
from minibot.roles.core_role import build_core, load_filters
from minibot.roles.runner import read_input_log, replay_log
from minibot.runlayout import RUN_FILE

EXIT_IDENTICAL = 0
EXIT_DIFFERENT = 1
EXIT_UNREADABLE = 2


def replay_role(
    ctx: RunContext, role: str, config: Mapping[str, Any], filters: Mapping[str, SymbolFilters]
) -> RoleReplay:
    """Rebuild `role`'s core, replay its input log, compare with its recorded outputs (first difference)."""
    comparer = OutputComparer(ctx, role)
    core = build_core(role, config, filters)
    replay_log(ctx, role, core, read_input_log(ctx.run_dir, role, ctx.run_id), comparer.compare)
    return comparer.result()


def open_run(run_dir: Path) -> tuple[RunContext, dict[str, Any], dict[str, SymbolFilters]]:
    """The run's context, validated config and exchange filters (what every core of the run was built from)."""
    if not (run_dir / RUN_FILE).exists():
        raise ConfigInvalid(f"{run_dir / RUN_FILE} is missing: not a run directory")
    run = read_critical_json(run_dir / RUN_FILE)
    config = run["config"]
    validate_config(config, f"{run_dir / RUN_FILE} config")
    start_ms = int(run["clock"]["start_ms"])  # replay reads no clock; the context needs one
    ctx = RunContext(run_dir, run["run_id"], run["cmdline_hash"], lambda: start_ms, QueuesConfig.from_config(config))
    return ctx, config, load_filters(run_dir)


def verdict(results: list[RoleReplay], echo: Callable[[str], None]) -> int:
    """Print the verdict of every role; returns the exit code."""
    if all(r.difference is None for r in results):
        echo("IDENTICAL: " + ", ".join(f"{r.outputs} outputs of {r.role}" for r in results))
        return EXIT_IDENTICAL
    for r in results:
        if r.difference is None:
            echo(f"{r.role}: {r.outputs} outputs identical")
        else:
            echo(f"DIFFERENT {r.role} after {r.outputs} identical outputs: {r.difference}")
    return EXIT_DIFFERENT


def replay_run(run_dir: Path, echo: Callable[[str], None], from_market: bool = False) -> int:
    """Replay every core role of `run_dir`, print the verdict through `echo`; returns the exit code.

    `from_market`: rebuild the whole chain from market_ticks alone (minibot.backtest.from_market) instead of
    feeding each role its input log."""
    try:
        ctx, config, filters = open_run(run_dir)
        if from_market:
            results = replay_from_market(ctx, config, filters)
        else:
            results = [replay_role(ctx, role, config, filters) for role in TRADING_CORE_ROLES]
    except (NoreError, OSError, KeyError, TypeError) as exc:
        detail = str(exc) if isinstance(exc, NoreError) else f"{type(exc).__name__}: {exc}"
        echo(f"CANNOT REPLAY {run_dir}: {detail}")
        return EXIT_UNREADABLE
    return verdict(results, echo)


def replay(
    run_dir: Path = typer.Argument(..., help="The run directory (<var>/runs/<run_id>)."),
    from_market: bool = typer.Option(
        False, "--from-market", help="Rebuild the core chain from market_ticks alone (no input logs)."
    ),
) -> None:
    """Re-run strategy, risk and execution on the run's recorded inputs; compare every output byte for byte.

    Each core is rebuilt from run.json's config and exchange_info.json and fed its role's recorded input
    log; with --from-market the three cores are chained in one process and fed only the run's market_ticks
    (with strategy.use_ai = false every core output is a function of them). Exit codes: 0 every output
    identical (prints `IDENTICAL: N outputs of <role>, ...`); 1 a difference (prints each differing role's
    first one: `<queue>/inbox.jsonl line K: expected <field> = <recorded>, got <replayed>`); 2 the run cannot
    be replayed (run.json or exchange_info.json missing or damaged, a journal that fails verification, or a
    core that raises on a recorded input).
    """
    raise typer.Exit(replay_run(run_dir, typer.echo, from_market))
