"""`python -m minibot.sim`: the same command as `nore sim`."""

from __future__ import annotations

import typer

from minibot.sim.cli import sim


def main() -> None:
    """Run `sim` as a standalone typer command."""
    typer.run(sim)


if __name__ == "__main__":
    main()
