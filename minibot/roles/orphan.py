"""Whether the supervisor that started a role process is still alive (a role without it ends: nobody would
watch or restart it; minibot/roles/process.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import psutil

ORPHAN_CHECK_S = 1.0


class OrphanGuard:
    """Tells a role that the supervisor which started it has died (at most one check per second).

    run.json names the supervisor by pid and process start time, so a recycled pid is not mistaken for
    it. A role started without a supervisor (run.json without `supervisor`) is never an orphan.

    Death is read from the process itself, not from its pid disappearing: on POSIX a supervisor killed
    with kill -9 stays a zombie (same pid, same start time) until its own parent reaps it, which may be
    never, so the zombie status counts as dead. On Windows psutil reports a process that has exited as
    gone even while handles keep its pid reserved. This needs no signal, no pipe held by the supervisor
    and nothing from the supervisor but run.json, so it works the same for roles started by any launcher.
    """

    def __init__(self, run: Mapping[str, Any]) -> None:
        sup = run.get("supervisor")
        self.pid: int | None = int(sup["pid"]) if sup else None
        self.create_time: float | None = float(sup["create_time"]) if sup else None
        self._next = 0.0

    def orphaned(self) -> bool:
        """True once the supervisor process has died (gone, a zombie, or its pid now another process)."""
        if self.pid is None:
            return False
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + ORPHAN_CHECK_S
        return supervisor_dead(self.pid, self.create_time)


def supervisor_dead(pid: int, create_time: float | None) -> bool:
    """Whether process `pid` (started at `create_time`, if known) has died or been replaced."""
    try:
        proc = psutil.Process(pid)
        started = proc.create_time()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
    except psutil.Error:
        return True
    return create_time is not None and abs(started - create_time) > 1.0
