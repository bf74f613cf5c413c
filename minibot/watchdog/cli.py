"""`nore run` (and `python -m minibot.nore_run_v1`): start a NORE night run.

Exit codes (also in docs/operations.md):
  0  the run ended cleanly: duration reached, operator stop file, or Ctrl+C; no STOP
  2  refused before starting: invalid config or options (the key path is named), unreadable secrets file,
     simulator data/scenario rejected; no run folder is written except for a rejected simulator input
  3  the run ended in a STOP (reason code printed; stop_journal and STOP.flag hold it)
  4  internal error (the supervisor log has the details; the run was STOPped INTERNAL_ERROR if it had started)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import typer

from minibot.exitcodes import ExitCode
from minibot.memtrace import start_from_env
from minibot.reasons import ConfigInvalid
from minibot.watchdog.console import ConsoleOut
from minibot.watchdog.launch import fix_own_mmap_threshold
from minibot.watchdog.options import MAX_SPEED, RunOptions
from minibot.watchdog.supervisor import SetupError, Supervisor
from minibot.watchdog.varpath import default_var


def run_command(options: RunOptions, out: Callable[[str], None] | None = None) -> int:
    """Run NORE with `options`; returns the exit code. Errors are one line, never a traceback.

    `out` None: every line and the dashboard go through one console writer thread (a blocked console never
    holds up the run), and the end waits at most `console.DRAIN_S` for the console to take the summary."""
    if out is not None:
        return _run_command(options, out, None)
    console = ConsoleOut()
    try:
        return _run_command(options, console.say, console)
    finally:
        console.drain()


def _run_command(options: RunOptions, out: Callable[[str], None], console: ConsoleOut | None) -> int:
    try:
        supervisor = Supervisor(options, out, console=console)
    except ConfigInvalid as exc:
        out(f"error: {exc}")
        return ExitCode.USAGE
    except SetupError as exc:
        out(f"error: {exc}")
        return ExitCode.ERROR
    except KeyboardInterrupt:
        out("interrupted before the run started")
        return ExitCode.OK
    try:
        return supervisor.run()
    except ConfigInvalid as exc:  # a folder key found leading out of the fresh run folder: nothing started
        out(f"error: {exc}")
        return ExitCode.USAGE
    except KeyboardInterrupt:  # Ctrl+C while starting, or again while ending: no STOP, but no final files
        out("interrupted: the run ended without its final metrics and summary")
        return ExitCode.OK
    except Exception as exc:  # the supervisor's own failure: one line here, the traceback in its log
        logging.getLogger("nore.supervisor").exception("supervisor failed")
        out(f"error: internal error: {type(exc).__name__}: {exc}")
        return ExitCode.ERROR


def run(
    config: Path | None = typer.Option(None, "--config", help="Config file (default: the shipped nore.v1.json)."),
    sim: bool = typer.Option(False, "--sim", help="Start the embedded Binance simulator on 127.0.0.1 and use it."),
    sim_data: list[Path] = typer.Option(
        [], "--sim-data", help="Binance public-data file for the simulator to replay (repeatable; needs --sim)."
    ),
    scenario: Path | None = typer.Option(None, "--scenario", help="Fault scenario JSON for the simulator."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulator's synthetic market."),
    duration: str | None = typer.Option(None, "--duration", help="Run length: 90s, 10m, 7h or milliseconds."),
    speed: float = typer.Option(
        1.0, "--speed", help=f"Run every timer, duration and the simulator N times faster (0 < N <= {MAX_SPEED:g})."
    ),
    var: Path | None = typer.Option(
        None,
        "--var",
        help="The run goes under VAR/runs/<run_id>/ (default: var here; on Windows %LOCALAPPDATA%\\nore\\var).",
    ),
    quiet: bool = typer.Option(
        False, "--quiet", help="No live dashboard (the run_dir line, errors and the summary still print)."
    ),
) -> None:
    """Run NORE: market data -> strategy -> risk -> paper execution, the AI and the watchdog, then a summary.

    It never sends a real order. Prints `run_dir: <path>` as soon as the run folder exists.

    Ctrl+C, or creating <run_dir>/control/stop, ends the run cleanly (exit 0). On Windows the machine is kept
    awake for the run; closing the window, logoff or Ctrl+Break end it through the stop file (not a full night).

    Exit codes: 0 clean end; 2 config/usage error; 3 STOP (reason printed); 4 internal error.
    """
    fix_own_mmap_threshold()  # the allocator setting the roles run with (issue 14, item 4)
    start_from_env("supervisor")  # opt-in memory growth tracing (bench/bench_run.py --tracemalloc)
    options = RunOptions(
        config_path=config,
        sim=sim,
        sim_data=list(sim_data),
        scenario=scenario,
        seed=seed,
        duration=duration,
        speed=speed,
        var=default_var() if var is None else var,
        quiet=quiet,
    )
    raise typer.Exit(run_command(options))
