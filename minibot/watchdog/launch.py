"""Which interpreter child processes run under, and how a child is ended together with everything it started.

A Windows venv's `sys.executable` (`.venv\\Scripts\\python.exe`) is a launcher: it runs the base
interpreter as its own child and waits for it. So the process the supervisor starts is not always the
process that runs the role: roles identify themselves by a per-start token (minibot/roles/instance.py),
report their real pid in their heartbeats, and ending a child means ending its whole process tree.

`NORE_ROLE_PYTHON` names another interpreter (or launcher) to start roles and the simulator with; it is
read here and nowhere else. Tests use it to put a launcher like Windows' in front of every child.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Mapping

import psutil

ROLE_PYTHON_ENV = "NORE_ROLE_PYTHON"


def child_python(environ: Mapping[str, str] | None = None) -> str:
    """The interpreter roles and the simulator are started with: `NORE_ROLE_PYTHON`, else this one."""
    env = os.environ if environ is None else environ
    return env.get(ROLE_PYTHON_ENV) or sys.executable


def descendants(pid: int | None) -> list[psutil.Process]:
    """Every live descendant of process `pid` (deepest last), empty when it is gone.

    Read before killing `pid`: once a parent has died its children are re-parented (POSIX) and can no
    longer be found from it. The process itself is left to its owner (a `Popen` must reap its own child,
    or its exit code is lost).
    """
    if pid is None:
        return []
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_processes(procs: Iterable[psutil.Process], wait_s: float) -> list[psutil.Process]:
    """SIGKILL / TerminateProcess each process (psutil refuses a pid reused since it was looked up) and
    wait up to `wait_s` for them to end; returns the ones still alive."""
    unique = {p.pid: p for p in procs}
    for proc in unique.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _gone, alive = psutil.wait_procs(list(unique.values()), timeout=wait_s)
    return alive
