"""`--exit-on-stdin-close`: the simulator ends with the process that holds its stdin, even a kill -9'd one."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.process


def test_closing_stdin_ends_it_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "minibot.sim", "--exit-on-stdin-close"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().startswith("listening on http://127.0.0.1:")
    proc.stdin.close()
    assert proc.wait(15) == 0
    proc.stdout.close()


def test_dies_with_a_killed_parent() -> None:
    holder = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-m', 'minibot.sim', '--exit-on-stdin-close'],"
        " stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)\n"
        "p.stdout.readline(); print(p.pid, flush=True); time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    sim_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait(10)
    parent.stdout.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if psutil.Process(sim_pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        psutil.Process(sim_pid).kill()
        raise AssertionError("the simulator outlived the process holding its stdin")
