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
import ctypes
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import psutil

ROLE_PYTHON_ENV = "NORE_ROLE_PYTHON"
# glibc raises its mmap threshold each time it frees an mmapped block, so a role that once freed a 1 MB
# buffer puts the next one in its heap and keeps the heap's top: +1 to +2 MB of RSS that a night never
# gives back (the 2026-11-29 soak: each market_ticks reader at the queue's first rotation). A fixed
# threshold keeps blocks of 512 KB and more in their own mappings, returned to the system when freed.
# glibc reads it at start; other C libraries and Windows ignore it.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(512 << 10)}
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)


def child_python(environ: Mapping[str, str] | None = None) -> str:
    """The interpreter roles and the simulator are started with: `NORE_ROLE_PYTHON`, else this one."""
    env = os.environ if environ is None else environ
    return env.get(ROLE_PYTHON_ENV) or sys.executable


def role_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` with the allocator settings roles run with (`MALLOC_ENV`); a value already set wins."""
    return {**MALLOC_ENV, **environ}


def fix_own_mmap_threshold() -> bool:
    """Give this process the mmap threshold its children start with (`MALLOC_ENV`), through glibc's
    `mallopt`: glibc reads the variable only when a process starts, and the trader starts the supervisor.

    Returns whether it was set; nothing changes off glibc (Windows, macOS, musl) or when the variable is
    already set (the user's value stands, as for the children)."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (ValueError, OSError):
        return False
    return bool(ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, int(MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"])))


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


def kill_tree(proc: subprocess.Popen[Any], wait_s: float) -> None:
    """Kill a child we started and everything under it (behind a launcher the real child is the launcher's
    child), waiting up to `wait_s` for each; the child is reaped."""
    under = descendants(proc.pid)  # read before the kill, while they are still its children
    proc.kill()
    kill_processes(under, wait_s)
    proc.wait(wait_s)
