"""An emulation, on Linux, of the Windows venv launcher (`.venv\\Scripts\\python.exe`).

On Windows the venv's `python.exe` does not run Python itself: it starts the base interpreter as its child
with the same arguments, waits for it and exits with its exit code; a job object ends the child when the
launcher is killed. `write_launcher` writes an executable that does the same here, so a test can start
roles and the simulator through it (`NORE_ROLE_PYTHON`, minibot/watchdog/launch.py) and see what the
supervisor sees on Windows: the pid it started is not the pid running the role.

`dies_with_parent=False` drops the job object's part (the child outlives a killed launcher), to show that
the supervisor itself reaches the real interpreter.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from minibot.watchdog.launch import ROLE_PYTHON_ENV

_BODY = """
import ctypes
import os
import signal
import subprocess
import sys

REAL_PYTHON = {real!r}
DIES_WITH_PARENT = {dies!r}
PR_SET_PDEATHSIG = 1


LAUNCHER_PID = os.getpid()


def _die_with_launcher():
    # What the job object does on Windows: the child is killed when the launcher goes away.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # A job object has no gap; prctl has one: a launcher killed between fork and prctl sends no signal.
    if os.getppid() != LAUNCHER_PID:
        os._exit(137)


child = subprocess.Popen([REAL_PYTHON, *sys.argv[1:]], preexec_fn=_die_with_launcher if DIES_WITH_PARENT else None)
code = child.wait()
sys.exit(code if code >= 0 else 128 - code)
"""


def write_launcher(folder: Path, *, dies_with_parent: bool = True) -> Path:
    """Write the launcher executable into `folder`; returns its path (use it as the interpreter)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("python-launcher" if dies_with_parent else "python-launcher-no-job")
    script = f"#!{sys.executable}\n" + _BODY.format(real=sys.executable, dies=dies_with_parent)
    path.write_text(script, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def launcher_env(launcher: Path, **extra: str) -> dict[str, str]:
    """This process's environment with roles and the simulator started through `launcher`."""
    return {**os.environ, ROLE_PYTHON_ENV: str(launcher), **extra}
