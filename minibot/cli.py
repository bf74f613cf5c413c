"""The `nore` command: one typer app, subcommands registered from the package that owns them."""

from __future__ import annotations

import importlib
from typing import Any

import typer

from minibot import __version__

app = typer.Typer(
    name="nore",
    help="NORE: minibot's unattended night reliability + paper trading mode. It never sends a real order.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (command name, "module:function") for plain commands, registered in this order. Each owning package
# keeps its command next to its code; this table is the whole CLI surface (docs/reference.md mirrors it).
COMMANDS: list[tuple[str, str]] = [
    ("run", "minibot.watchdog.cli:run"),
    ("verify", "minibot.metrics.verify:verify"),
    ("report", "minibot.metrics.report:report"),
    ("sim", "minibot.sim.cli:sim"),
    ("gates", "minibot.gates.cli:gates"),
    ("replay", "minibot.backtest.replay:replay"),
    ("backtest", "minibot.backtest.run:backtest"),
    ("stage", "minibot.deploy.cli:stage"),
    ("deploy", "minibot.deploy.cli:deploy"),
    ("doctor", "minibot.doctor.cli:doctor"),
]
# (group name, "module:typer_app") for command groups.
GROUPS: list[tuple[str, str]] = [
    ("journal", "minibot.journal.cli:journal_app"),
]


def _load(target: str) -> Any:
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"nore (minibot) {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """NORE: minibot's unattended night reliability + paper trading mode. It never sends a real order."""


for _name, _target in COMMANDS:
    app.command(_name)(_load(_target))
for _name, _target in GROUPS:
    app.add_typer(_load(_target), name=_name)


def main() -> None:
    """Console-script entry point."""
    app()
