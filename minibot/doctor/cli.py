"""`nore doctor`: run every check against the config a night would use and print OK / WARN / FAIL rows."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import typer

from minibot.config.binance import BinanceConfig
from minibot.config.loader import load_config
from minibot.doctor.checks import run_checks
from minibot.doctor.rows import DoctorContext, Row, as_json, exit_code, summary
from minibot.reasons import ConfigInvalid
from minibot.watchdog.simproc import SimulatorFailed, SimulatorProcess
from minibot.watchdog.varpath import default_var


def doctor(
    config: Path | None = typer.Option(None, "--config", help="Config file (default: the shipped nore.v1.json)."),
    var: Path | None = typer.Option(None, "--var", help="The var folder a night would use (default as for nore run)."),
    sim: bool = typer.Option(
        False, "--sim", help="Check against the embedded simulator on 127.0.0.1 instead of Binance."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="REST base URL to check instead of the config's binance.rest_base_url."
    ),
    ws_url: str | None = typer.Option(
        None, "--ws-url", help="WebSocket base URL to check instead of the config's binance.ws_base_url."
    ),
    as_json_: bool = typer.Option(False, "--json", help="Print the rows as one JSON document."),
) -> None:
    """Check whether this machine can run a NORE night: Python and venv, free disk for the configured symbols,
    the var folder (OneDrive, write and replace speed), the cross-process lock, and Binance (REST latency,
    WebSocket, clock offset).

    Each row is OK, WARN or FAIL with what to do. Exit 0 when nothing FAILed, 1 otherwise, 2 on a bad config.
    """
    try:
        cfg = load_config(config)
    except ConfigInvalid as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    folder = default_var() if var is None else var
    binance = BinanceConfig.from_config(cfg)
    rest = base_url or binance.rest_base_url
    ws = ws_url or binance.ws_base_url
    ctx = DoctorContext(cfg, folder, rest, ws, dict(os.environ))
    simulator: SimulatorProcess | None = None
    logs = tempfile.TemporaryDirectory(prefix="nore-doctor-")
    try:
        if sim:
            simulator = SimulatorProcess(Path(logs.name), 1.0, list(binance.symbols))
            try:
                rest = simulator.start()
            except SimulatorFailed as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            ctx = replace(ctx, rest_url=rest, ws_url=simulator.ws_url, clock=simulator.sim_clock().clock)
        rows = run_checks(ctx)
    finally:
        if simulator is not None:
            simulator.stop()
        logs.cleanup()
    _print(rows, as_json_)
    raise typer.Exit(exit_code(rows))


def _print(rows: list[Row], as_json_: bool) -> None:
    if as_json_:
        typer.echo(json.dumps(as_json(rows), indent=2))
        return
    for row in rows:
        typer.echo(row.text())
    typer.echo(summary(rows))
