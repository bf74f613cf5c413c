"""The supervisor's hold on the machine, through a fake kernel32: keep-awake and QuickEdit released whatever
ends the run; a console close/logoff/Ctrl+Break writes the stop file and the record that names the ending."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from minibot import winsys
from minibot.clock import RunClock
from minibot.journal.atomic import read_critical_json
from minibot.journal.console_record import console_ending
from minibot.runlayout import CONSOLE_RECORD, OPERATOR_STOP_FILE
from minibot.watchdog.hostguard import HostGuard
from minibot.watchdog.options import RunOptions
from minibot.watchdog.rundir import run_document
from minibot.watchdog.supervisor import Supervisor
from tests.fake_kernel32 import FakeKernel32
from tests.watchdog.runproc import NoreRun, heartbeat_pids, nore_verify, status, wait_until

AWAKE = winsys.ES_CONTINUOUS | winsys.ES_SYSTEM_REQUIRED
CONSOLE = 0x01F7


def _run_dir(tmp_path: Path) -> Path:
    (tmp_path / "control").mkdir()
    return tmp_path


def test_start_holds_everything_and_close_releases_it(tmp_path: Path) -> None:
    k32 = FakeKernel32(mode=CONSOLE)
    guard = HostGuard(_run_dir(tmp_path), k32)
    assert guard.start() == {"keep_awake": True, "quickedit_off": True, "console_handler": True}
    assert k32.execution_state == AWAKE and k32.mode is not None and not k32.mode & winsys.ENABLE_QUICK_EDIT_MODE
    assert len(k32.handlers) == 1
    guard.close()
    guard.close()
    assert k32.execution_state == winsys.ES_CONTINUOUS and k32.mode == CONSOLE and k32.handlers == []


@pytest.mark.parametrize("event", [winsys.CTRL_CLOSE_EVENT, winsys.CTRL_LOGOFF_EVENT, winsys.CTRL_BREAK_EVENT])
def test_console_event_writes_the_stop_file_and_the_record_then_waits_for_the_ending(
    tmp_path: Path, event: int
) -> None:
    run_dir = _run_dir(tmp_path)
    k32 = FakeKernel32(mode=CONSOLE)
    guard = HostGuard(run_dir, k32, wait_s=30.0)
    guard.start()
    (handler,) = k32.handlers
    answer: list[int] = []
    windows_thread = threading.Thread(target=lambda: answer.append(handler(event)))  # Windows' handler thread
    windows_thread.start()
    deadline = time.monotonic() + 10
    while not (run_dir / OPERATOR_STOP_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    name = winsys.CONSOLE_EVENTS[event]
    assert (run_dir / OPERATOR_STOP_FILE).read_text().strip() == f"console closed ({name})"
    record = console_ending(run_dir)
    assert record is not None and record["event"] == name and record["ended_by"] == f"console closed ({name})"
    time.sleep(0.2)
    assert windows_thread.is_alive(), "the handler holds the process while the run ends"
    guard.close()  # the supervisor's ending is done
    windows_thread.join(5)
    assert answer == [1] and k32.execution_state == winsys.ES_CONTINUOUS


def test_console_handler_wait_is_bounded(tmp_path: Path) -> None:
    k32 = FakeKernel32(mode=CONSOLE)
    guard = HostGuard(_run_dir(tmp_path), k32, wait_s=0.2)
    guard.start()
    started = time.monotonic()
    assert k32.handlers[0](winsys.CTRL_SHUTDOWN_EVENT) == 1
    assert time.monotonic() - started < 2.0
    guard.close()


def test_ctrl_c_is_not_taken_from_python(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    k32 = FakeKernel32(mode=CONSOLE)
    guard = HostGuard(run_dir, k32, wait_s=0.1)
    guard.start()
    assert k32.handlers[0](winsys.CTRL_C_EVENT) == 0
    assert not (run_dir / OPERATOR_STOP_FILE).exists() and console_ending(run_dir) is None
    guard.close()


def test_a_damaged_record_still_names_the_console(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    (run_dir / CONSOLE_RECORD).write_text("{torn")
    record = console_ending(run_dir)
    assert record is not None and record["ended_by"] == "console closed"


@pytest.mark.process
@pytest.mark.parametrize("outcome", ["stop", "raises"])
def test_supervisor_releases_the_machine_whatever_ends_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    k32 = FakeKernel32(mode=CONSOLE)
    seen: list[tuple[int, int | None]] = []

    def run(self: Supervisor, run_id: str) -> int:
        seen.append((k32.execution_state, k32.mode))
        if outcome == "raises":
            raise RuntimeError("the supervisor fails")
        return 3  # a STOP

    monkeypatch.setattr(Supervisor, "_run", run)
    sup = Supervisor(RunOptions(var=tmp_path / "var"), lambda line: None, k32=k32)
    if outcome == "raises":
        with pytest.raises(RuntimeError):
            sup.run()
    else:
        assert sup.run() == 3
    assert seen == [(AWAKE, (CONSOLE & ~winsys.ENABLE_QUICK_EDIT_MODE) | winsys.ENABLE_EXTENDED_FLAGS)]
    assert k32.execution_state == winsys.ES_CONTINUOUS and k32.mode == CONSOLE and k32.handlers == []
    assert sup.host_held["keep_awake"]


@pytest.mark.process
def test_run_json_records_what_the_host_holds() -> None:
    doc = run_document("r", "nore run", {}, RunClock(0), 0.0, None, {"pid": 1}, {"keep_awake": True})
    assert doc["host"] == {"keep_awake": True}


@pytest.mark.process
def test_a_run_ended_by_the_console_says_so_and_verify_names_it(tmp_path: Path) -> None:
    run = NoreRun(tmp_path / "var", "--sim", "--speed", "20", "--duration", "2h")
    try:
        run_dir = run.run_dir()
        wait_until(lambda: "execution_role" in heartbeat_pids(run_dir), 60, "execution_role's heartbeat")
        # What the handler does on CTRL_CLOSE_EVENT (the Windows event cannot be sent here).
        guard = HostGuard(run_dir, FakeKernel32(mode=CONSOLE), wait_s=0.0)
        guard.on_console_event("CTRL_CLOSE_EVENT")
        code = run.wait(120)
    finally:
        run.kill()
    assert code == 0, run.output
    assert "ended: console closed (CTRL_CLOSE_EVENT)" in run.output
    assert status(run_dir)["ended_by"] == "console closed (CTRL_CLOSE_EVENT)"
    held = read_critical_json(run_dir / "run.json")["host"]
    assert held == {"keep_awake": False, "quickedit_off": False, "console_handler": False}, "not Windows"
    verify_code, verdict = nore_verify(run_dir)
    assert verify_code == 1 and verdict["verdict"] == "FAIL"
    assert verdict["reasons"][0] == {
        "code": "RUN_ENDED_BY_CONSOLE",
        "detail": "the run ended because of the console (console closed (CTRL_CLOSE_EVENT)): not a full night",
    }
