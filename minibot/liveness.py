"""The silence rule: how long a role may go without a heartbeat before it counts as dead (R-Q5, R-N2).

One rule, read in two units: the supervisor kills and restarts a silent role after `silent_after_wall_s`
of wall time (watchdog/restarts.py), and the metrics count the same gap, measured between journaled
heartbeats on the run clock, as a silent gap (metrics/collector.py). The threshold is
`watchdog.silent_after_s` of run clock, but never less than `MIN_SILENT_S` of wall time: liveness is a
property of a process, which runs at wall speed, so under `--speed 60` a one-second pause is not death.
"""

from __future__ import annotations

MIN_SILENT_S = 10.0


def silent_after_wall_s(silent_after_s: float, speed: float) -> float:
    """Wall seconds without a heartbeat after which the supervisor treats a role as silent, given the config's
    `watchdog.silent_after_s`."""
    return max(silent_after_s / speed, MIN_SILENT_S)


def silent_after_run_ms(silent_after_s: float, speed: float) -> float:
    """The same threshold in run-clock ms (`silent_after_wall_s` x speed, computed without a division so a
    whole number of seconds stays exact)."""
    return max(silent_after_s * 1000.0, MIN_SILENT_S * 1000.0 * speed)
