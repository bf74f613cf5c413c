"""The `nore` command: one typer app, subcommands registered from the package that owns them.

`nore <command>` imports only that command's package: the supervisor of a 7-hour `nore run` would
otherwise hold the simulator, the report and numpy in memory all night (~15 MB of RSS, issue 14 item 4).
`nore`, `nore --help` and anything that is not a command name build the whole app; so does
`minibot.cli.app` (tests, docs).
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Any

import typer

from minibot import __version__

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


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """NORE: minibot's unattended night reliability + paper trading mode. It never sends a real order."""


def build_app(only: str | None = None) -> typer.Typer:
    """The `nore` app with every command, or with only the command or group named `only`."""
    app = typer.Typer(
        name="nore",
        help="NORE: minibot's unattended night reliability + paper trading mode. It never sends a real order.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name, target in COMMANDS:
        if only in (None, name):
            app.command(name)(_load(target))
    for name, target in GROUPS:
        if only in (None, name):
            app.add_typer(_load(target), name=name)
    return app


@functools.cache
def _full_app() -> typer.Typer:
    return build_app()


def __getattr__(name: str) -> Any:
    if name == "app":
        return _full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point."""
    first = sys.argv[1] if len(sys.argv) > 1 else None
    known = {name for name, _ in COMMANDS} | {name for name, _ in GROUPS}
    (build_app(first) if first in known else _full_app())()
