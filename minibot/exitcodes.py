"""Process exit codes of `nore run`, of the role processes it starts and of `nore backtest` (OK or USAGE)
(docs/reference.md, "Exit codes in short").

One enum for both sides of the pipe: the supervisor returns these from `nore run`, a role process exits with
them, and the watchdog's restart policy reads a role's code back (minibot/watchdog/restarts.py). The other
commands (`verify`, `replay`, `doctor`, ...) keep their own 0 / 1 / 2 verdicts (docs/reference.md).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """How a NORE process ended."""

    OK = 0  # `nore run`: clean end, no STOP; a role: ended on its shutdown file, or found itself orphaned
    USAGE = 2  # `nore run` refused before starting: config, options, secrets, simulator input
    STOPPED = 3  # the run ended in a STOP / the role halted on STOP.flag or journaled a typed error's STOP
    ERROR = 4  # internal error: the supervisor failed, the installation lacks a role, a role crashed
    DUPLICATE = 5  # a role: another process of the same role holds the run's instance lock
