"""Console output never holds up the supervisor: a blocked console drops dashboard frames and bounds the end;
a real `nore run` whose stdout is a full pipe nobody reads still restarts a killed role and ends on time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from minibot.journal.atomic import read_critical_json
from minibot.runlayout import OPERATOR_STOP_FILE
from minibot.watchdog.console import ConsoleOut
from tests.watchdog.runproc import ROOT, heartbeat_pids, role_pid, status, wait_until

ROLES = {"market_role", "health_role", "strategy_role", "risk_role", "execution_role"}


class BlockedSink:
    """A console that blocks every write until released (QuickEdit selection, a pipe nobody reads)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()  # a write is under way (and blocked until `open`)
        self.written: list[str] = []

    def __call__(self, text: str) -> None:
        self.entered.set()
        self.open.wait(30)
        self.written.append(text)


def test_a_blocked_console_never_blocks_the_caller_and_frames_are_dropped() -> None:
    sink = BlockedSink()
    console = ConsoleOut(sink)
    drawn: list[int] = []
    started = time.monotonic()
    console.say("run_dir: x")
    for n in range(500):
        console.frame(lambda n=n: drawn.append(n))
    console.say("summary")
    console.call(lambda: drawn.append(-1))
    assert time.monotonic() - started < 1.0
    assert console.drain(0.3) is False, "the end waits a bounded time for a blocked console"
    assert console.dropped_frames >= 498
    sink.open.set()
    assert console.drain(10)
    assert sink.written == ["run_dir: x\n", "summary\n"]
    assert drawn == [499, -1], "only the newest frame is drawn, before what was queued after it"


def test_lines_beyond_the_bound_drop_the_oldest() -> None:
    sink = BlockedSink()
    console = ConsoleOut(sink, max_lines=3)
    console.say("first")
    assert sink.entered.wait(10), "the writer thread never took the first line"  # it now blocks on it
    for n in range(10):
        console.say(f"line {n}")
    sink.open.set()
    assert console.drain(10)
    assert sink.written == ["first\n", "line 7\n", "line 8\n", "line 9\n"] and console.dropped_lines == 7


def test_a_failing_console_is_logged_not_raised() -> None:
    def broken(text: str) -> None:
        raise OSError("the console went away")

    console = ConsoleOut(broken)
    console.say("lost")
    assert console.drain(5)


def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is already full: the first write of the child blocks."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        while True:
            os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(write_end, True)  # the child's writes block (the flag is shared with it)
    return read_end, write_end


@pytest.mark.process
def test_supervision_with_a_blocked_stdout_restarts_a_killed_role_and_ends_on_time(tmp_path: Path) -> None:
    var = tmp_path / "var"
    read_end, write_end = _full_pipe()
    log = (tmp_path / "stderr.txt").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "minibot", "run", "--var", str(var), "--sim", "--speed", "20", "--duration", "7h"],
        stdin=subprocess.DEVNULL,
        stdout=write_end,
        stderr=log,
        cwd=ROOT,
    )
    os.close(write_end)
    try:
        wait_until(lambda: (var / "runs").is_dir() and any((var / "runs").iterdir()), 60, "the run folder")
        (run_dir,) = list((var / "runs").iterdir())
        wait_until(lambda: set(heartbeat_pids(run_dir)) >= ROLES, 60, "a heartbeat from every role")
        old = role_pid(run_dir, "strategy_role")
        assert old is not None
        psutil.Process(old).kill()
        wait_until(
            lambda: (
                role_pid(run_dir, "strategy_role") not in (None, old)
                and role_pid(run_dir, "strategy_role") in heartbeat_pids(run_dir).get("strategy_role", set())
            ),
            60,
            "strategy_role restarted and beating again",
        )
        # Ended by the operator stop file once the restart is seen, not by a short --duration that a loaded
        # machine can reach before the roles are even up: the end still goes through the blocked console.
        (run_dir / OPERATOR_STOP_FILE).write_bytes(b"")
        code = proc.wait(90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
        os.close(read_end)
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    ended = status(run_dir)
    assert ended["state"] == "ended" and ended["ended_by"] == "operator stop file" and ended["exit_code"] == 0
    assert len(ended["roles"]["strategy_role"]["restarts"]) == 1
    assert read_critical_json(run_dir / "metrics.json")["final"]
    supervisor_log = (run_dir / "logs" / "supervisor.log").read_text()
    assert "summary: exit code: 0" in supervisor_log
    assert "the console is blocked" in supervisor_log
