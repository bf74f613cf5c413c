"""The interpreter children run under (`NORE_ROLE_PYTHON`) and ending a child with its whole tree, through
the Windows venv launcher emulation (tests/watchdog/venv_launcher.py)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from minibot.watchdog.launch import (
    MALLOC_ENV,
    ROLE_PYTHON_ENV,
    child_python,
    descendants,
    fix_own_mmap_threshold,
    kill_processes,
    role_environ,
)
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


def test_roles_run_with_a_fixed_mmap_threshold_unless_the_user_set_one() -> None:
    assert MALLOC_ENV == {"MALLOC_MMAP_THRESHOLD_": "524288"}
    assert role_environ({"PATH": "/bin"}) == {"PATH": "/bin", **MALLOC_ENV}
    assert role_environ({"MALLOC_MMAP_THRESHOLD_": "65536"})["MALLOC_MMAP_THRESHOLD_"] == "65536"


# What the fixed threshold changes (glibc only): a process that freed an mmapped 1 MB block gets the next
# one from its heap, which keeps the heap's top (a role's RSS step at a queue rotation); with MALLOC_ENV
# the next one is mmapped again and nothing stays in the heap.
_REUSE_1MB = """
import ctypes, os
class MI2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MI2
block = os.urandom(1 << 20)
heap = libc.mallinfo2().arena
del block
block = os.urandom(1 << 20)
print(libc.mallinfo2().arena - heap, libc.mallinfo2().hblkhd >= 1 << 20)
"""


def _glibc_has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc_has_mallinfo2(), reason="glibc's allocator statistics (mallinfo2) only")
def test_a_freed_1mb_block_does_not_move_into_the_heap_of_a_role_or_the_supervisor() -> None:
    def run(env: dict[str, str], script: str = _REUSE_1MB) -> tuple[int, bool]:
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        growth, mmapped = done.stdout.split()[-2:]
        return int(growth), mmapped == "True"

    plain = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert not run(plain)[1], "glibc's default: the second block comes from the heap"
    growth, mmapped = run(role_environ(plain))
    assert mmapped and growth < 1 << 20, (growth, mmapped)
    # The supervisor, started by the trader without the variable, sets the same threshold on itself.
    own = "from minibot.watchdog.launch import fix_own_mmap_threshold\nprint(fix_own_mmap_threshold())\n"
    growth, mmapped = run(plain, own + _REUSE_1MB)
    assert mmapped and growth < 1 << 20, (growth, mmapped)


def test_the_supervisor_leaves_its_allocator_alone_off_glibc_or_when_the_user_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_ctypes(name: object) -> object:
        raise AssertionError(f"ctypes.CDLL({name!r}) called")

    monkeypatch.setattr(ctypes, "CDLL", no_ctypes)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert fix_own_mmap_threshold() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    for platform in ("win32", "darwin"):
        monkeypatch.setattr(sys, "platform", platform)
        assert fix_own_mmap_threshold() is False


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
