"""The interpreter children run under (`NORE_ROLE_PYTHON`) and ending a child with its whole tree, through
the Windows venv launcher emulation (tests/watchdog/venv_launcher.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from minibot.watchdog.launch import ROLE_PYTHON_ENV, child_python, descendants, kill_processes
from tests.watchdog.venv_launcher import write_launcher

pytestmark = pytest.mark.process

SLEEPER = ["-c", "import time; time.sleep(120)"]


def _only_child(pid: int, timeout_s: float = 30.0) -> psutil.Process:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = descendants(pid)
        if found:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} started no child within {timeout_s} s")


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_child_python_is_this_interpreter_unless_named() -> None:
    assert child_python({}) == sys.executable
    assert child_python({ROLE_PYTHON_ENV: ""}) == sys.executable
    assert child_python({ROLE_PYTHON_ENV: "/opt/py/launcher"}) == "/opt/py/launcher"


def test_the_launcher_runs_python_as_its_child_and_passes_the_exit_code(tmp_path: Path) -> None:
    launcher = write_launcher(tmp_path)
    done = subprocess.run(
        [str(launcher), "-c", "import os, sys; print(os.getppid()); sys.exit(7)"], capture_output=True, text=True
    )
    assert done.returncode == 7
    assert int(done.stdout) != os.getpid(), "the interpreter is the launcher's child, not ours"


def test_killing_the_emulated_launcher_ends_its_child_as_a_job_object_does(tmp_path: Path) -> None:
    launcher = subprocess.Popen([str(write_launcher(tmp_path)), *SLEEPER])
    child = _only_child(launcher.pid)
    launcher.kill()
    launcher.wait(10)
    psutil.wait_procs([child], timeout=10)
    assert _gone(child)


def test_kill_processes_reaches_a_child_that_would_outlive_its_launcher(tmp_path: Path) -> None:
    launcher = subprocess.Popen([str(write_launcher(tmp_path, dies_with_parent=False)), *SLEEPER])
    try:
        child = _only_child(launcher.pid)
        under = descendants(launcher.pid)  # read while they are still the launcher's children
        launcher.kill()
        launcher.wait(10)
        assert not _gone(child), "without a job object the child survives its launcher"
        assert kill_processes(under, 10) == []
        assert _gone(child)
    finally:
        for proc in descendants(launcher.pid):
            proc.kill()
