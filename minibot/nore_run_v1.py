"""`python -m minibot.nore_run_v1 --config minibot/config/nore.v1.json`: the spec's command (R-D2).

The same command as `nore run` (same options, same exit codes: 0 clean, 2 config/usage error, 3 STOP,
4 internal error).
"""

from __future__ import annotations

import typer

from minibot.watchdog.cli import run


def main() -> None:
    """Run `nore run` as a standalone command."""
    typer.run(run)


if __name__ == "__main__":
    main()
