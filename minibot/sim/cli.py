"""`nore sim`: the simulator standalone, REST and WebSocket on one loopback port."""

from __future__ import annotations

from pathlib import Path

import typer

from minibot.sim.market import DEFAULT_SYMBOLS
from minibot.sim.runner import SimConfig
from minibot.sim.serve import serve


def sim(
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address to bind (loopback only)."),
    port: int = typer.Option(0, "--port", help="TCP port for REST and WebSocket; 0 picks a free one."),
    symbols: str = typer.Option(
        ",".join(DEFAULT_SYMBOLS), "--symbols", help="Comma-separated symbols of the synthetic market."
    ),
    data: list[Path] = typer.Option(
        [], "--data", help="Binance public-data file to replay (aggTrades/trades/klines CSV or .zip); repeatable."
    ),
    speed: float = typer.Option(1.0, "--speed", help="Run-clock speed: N replays and simulates N times faster."),
    scenario: Path | None = typer.Option(None, "--scenario", help="Fault scenario JSON (docs/simulator.md)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic market."),
    start_ms: int | None = typer.Option(
        None, "--start-ms", help="Run-clock start in unix ms (default: now). Used by `nore run --sim`."
    ),
    clock_anchor: float | None = typer.Option(
        None,
        "--clock-anchor",
        help="Wall time (unix seconds) at which the run clock read --start-ms: share a run's clock exactly.",
    ),
    exit_on_stdin_close: bool = typer.Option(
        False,
        "--exit-on-stdin-close",
        help="Exit when standard input closes: a parent holding the pipe takes the simulator with it when it dies.",
    ),
) -> None:
    """Run the Binance Spot market-data simulator until Ctrl+C (first line: `listening on http://...`)."""
    if speed <= 0:
        typer.echo("error: --speed must be > 0", err=True)
        raise typer.Exit(2)
    cfg = SimConfig(
        host=host,
        port=port,
        symbols=[s.strip().upper() for s in symbols.split(",") if s.strip()],
        data_paths=list(data),
        speed=speed,
        scenario=scenario,
        seed=seed,
        start_ms=start_ms,
        anchor_unix_s=clock_anchor,
    )
    code = serve(cfg, exit_on_stdin_close)
    if code:
        raise typer.Exit(code)
