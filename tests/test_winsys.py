"""minibot.winsys through a fake kernel32: the flags each call sends, acquire/release pairing, the mode bits,
which console events are handled; and the no-op results off Windows."""

from __future__ import annotations

import sys

import pytest

from minibot import winsys
from tests.fake_kernel32 import FakeKernel32, FakeWinmm


def test_keep_awake_holds_the_system_not_the_display_and_releases_once() -> None:
    k32 = FakeKernel32()
    with winsys.KeepAwake(k32) as awake:
        assert awake.held
        assert k32.execution_state == winsys.ES_CONTINUOUS | winsys.ES_SYSTEM_REQUIRED
        assert not k32.execution_state & 0x2, "ES_DISPLAY_REQUIRED: the display may sleep"
        awake.release()
    assert k32.execution_state == winsys.ES_CONTINUOUS
    assert [c for c in k32.calls if c[0] == "SetThreadExecutionState"] == [
        ("SetThreadExecutionState", winsys.ES_CONTINUOUS | winsys.ES_SYSTEM_REQUIRED),
        ("SetThreadExecutionState", winsys.ES_CONTINUOUS),
    ]


def test_keep_awake_refused_is_reported_and_not_released() -> None:
    k32 = FakeKernel32(accept=False)
    awake = winsys.KeepAwake(k32)
    assert awake.acquire() is False
    awake.release()
    assert len(k32.calls) == 1


def test_quickedit_cleared_then_the_original_mode_restored() -> None:
    original = 0x01F7  # the classic conhost default: QuickEdit, insert, extended flags, echo, line input...
    k32 = FakeKernel32(mode=original)
    guard = winsys.QuickEditOff(k32)
    assert guard.apply()
    assert k32.mode is not None
    assert not k32.mode & winsys.ENABLE_QUICK_EDIT_MODE
    assert k32.mode & winsys.ENABLE_EXTENDED_FLAGS
    assert k32.mode | winsys.ENABLE_QUICK_EDIT_MODE == original | winsys.ENABLE_EXTENDED_FLAGS
    assert not guard.apply(), "a second apply changes nothing"
    guard.restore()
    guard.restore()
    assert k32.mode == original
    assert [c for c in k32.calls if c[0] == "SetConsoleMode"] == [
        ("SetConsoleMode", (original & ~winsys.ENABLE_QUICK_EDIT_MODE) | winsys.ENABLE_EXTENDED_FLAGS),
        ("SetConsoleMode", original),
    ]


@pytest.mark.parametrize("mode", [None, 0x01F7 & ~winsys.ENABLE_QUICK_EDIT_MODE])
def test_quickedit_without_console_or_already_off_is_left_alone(mode: int | None) -> None:
    k32 = FakeKernel32(mode=mode)
    guard = winsys.QuickEditOff(k32)
    assert not guard.apply()
    guard.restore()
    assert not [c for c in k32.calls if c[0] == "SetConsoleMode"]
    assert winsys.console_mode(k32) == mode


def test_console_events_handled_and_ctrl_c_left_to_python() -> None:
    k32 = FakeKernel32()
    seen: list[str] = []
    events = winsys.ConsoleEvents(seen.append, k32)
    assert events.register()
    (handler,) = k32.handlers
    assert handler(winsys.CTRL_C_EVENT) == 0
    for code in (
        winsys.CTRL_CLOSE_EVENT,
        winsys.CTRL_LOGOFF_EVENT,
        winsys.CTRL_BREAK_EVENT,
        winsys.CTRL_SHUTDOWN_EVENT,
    ):
        assert handler(code) == 1
    assert seen == ["CTRL_CLOSE_EVENT", "CTRL_LOGOFF_EVENT", "CTRL_BREAK_EVENT", "CTRL_SHUTDOWN_EVENT"]
    events.unregister()
    events.unregister()
    assert k32.handlers == []


def test_role_creation_flags() -> None:
    flags = winsys.popen_group_kwargs(windows=True)["creationflags"]
    assert flags & winsys.CREATE_NO_WINDOW and flags & winsys.CREATE_NEW_PROCESS_GROUP
    assert winsys.popen_group_kwargs(windows=False) == {"start_new_session": True}


POWERCFG = """Power Scheme GUID: 381b4222-f694-41f0-9685-ff5bb260df2e  (Balanced)
  Subgroup GUID: 238c9fa8-0aad-41ed-83f4-97be242c8f20  (Sleep)
    Power Setting GUID: 29f6c1db-86da-48c5-9fdb-f2b67b1f44da  (Sleep after)
      Minimum Possible Setting: 0x00000000
      Maximum Possible Setting: 0xffffffff
      Possible Settings increment: 0x00000001
      Possible Settings units: Seconds
    Current AC Power Setting Index: 0x00000708
    Current DC Power Setting Index: 0x00000384
"""


def test_sleep_timeout_from_powercfg() -> None:
    assert winsys.sleep_timeout(lambda args: POWERCFG).seconds == 1800
    never = winsys.sleep_timeout(lambda args: POWERCFG.replace("0x00000708", "0x00000000"))
    assert never.seconds == 0 and "never" in never.note
    french = POWERCFG.replace("Current AC Power Setting Index", "Index du paramètre d'alimentation secteur actuel")
    assert winsys.sleep_timeout(lambda args: french).seconds == 1800
    unknown = winsys.sleep_timeout(lambda args: "Le paramètre est incorrect.")
    assert unknown.seconds is None and "no power setting index" in unknown.note

    def fails(args: list[str]) -> str:
        raise OSError("powercfg not found")

    assert "powercfg failed" in winsys.sleep_timeout(fails).note


def test_fine_timers_ask_for_1_ms_once_and_give_it_back_once() -> None:
    mm = FakeWinmm()
    timers = winsys.FineTimers(mm)
    assert timers.acquire() and timers.acquire()
    assert mm.requests == 1
    timers.release()
    timers.release()
    assert mm.requests == 0
    assert mm.calls == [("timeBeginPeriod", 1), ("timeEndPeriod", 1)]


def test_fine_timers_refused_are_not_given_back() -> None:
    mm = FakeWinmm(accept=False)
    timers = winsys.FineTimers(mm)
    assert not timers.acquire()
    timers.release()
    assert mm.calls == [("timeBeginPeriod", 1)]


@pytest.mark.skipif(sys.platform == "win32", reason="the no-op side of the module")
def test_off_windows_every_call_is_a_no_op() -> None:
    assert winsys.kernel32() is None
    assert winsys.winmm() is None
    assert not winsys.FineTimers(winsys.winmm()).acquire()
    assert not winsys.KeepAwake().acquire()
    assert not winsys.QuickEditOff().apply()
    assert not winsys.ConsoleEvents(lambda name: None).register()
    assert winsys.console_mode() is None
    assert winsys.sleep_timeout().note.startswith("not applicable")
    assert winsys.popen_group_kwargs() == {"start_new_session": True}
