"""The doctor's Windows host rows through a fake kernel32: the keep-awake probe is released at once, the
sleep timeout is a fallback when NORE can hold the machine awake, QuickEdit is tried off and restored; and
"not applicable" (OK) on this Linux machine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from minibot import winsys
from minibot.doctor import host
from minibot.doctor.rows import DoctorContext, Row, Status
from minibot.winsys import SleepTimeout
from tests.fake_kernel32 import FakeKernel32

QUICKEDIT_ON = 0x01F7  # the classic conhost default: QuickEdit, insert mode, extended flags...
QUICKEDIT_OFF = QUICKEDIT_ON & ~winsys.ENABLE_QUICK_EDIT_MODE
NEVER = SleepTimeout(0, "never sleeps on AC power")
THIRTY_MIN = SleepTimeout(1800, "sleeps after 1800 s idle")


def rows(k32: FakeKernel32 | None, timeout: SleepTimeout) -> dict[str, Row]:
    return {r.check: r for r in host.host_rows(k32, timeout)}


def test_keep_awake_is_probed_then_released() -> None:
    k32 = FakeKernel32(mode=QUICKEDIT_OFF)
    row = rows(k32, NEVER)["keep awake"]
    assert row.status is Status.OK and "can hold the machine awake" in row.detail
    flags = [f for name, f in k32.calls if name == "SetThreadExecutionState"]
    assert flags == [winsys.ES_CONTINUOUS | winsys.ES_SYSTEM_REQUIRED, winsys.ES_CONTINUOUS]
    assert k32.execution_state == winsys.ES_CONTINUOUS, "the doctor leaves the machine free to sleep"


def test_a_sleeping_power_plan_is_only_a_fallback_when_nore_holds_the_machine_awake() -> None:
    row = rows(FakeKernel32(mode=QUICKEDIT_OFF), THIRTY_MIN)["sleep timeout"]
    assert row.status is Status.OK and "1800 s" in row.detail and "only the fallback" in row.detail
    assert rows(FakeKernel32(mode=QUICKEDIT_OFF, accept=False), NEVER)["sleep timeout"].status is Status.OK


def test_a_sleeping_power_plan_warns_when_nore_cannot_hold_the_machine_awake() -> None:
    found = rows(FakeKernel32(mode=QUICKEDIT_OFF, accept=False), THIRTY_MIN)
    assert found["keep awake"].status is Status.WARN and "refused" in found["keep awake"].detail
    row = found["sleep timeout"]
    assert row.status is Status.WARN and "would sleep during the night" in row.detail
    assert "Never" in row.action and "MACHINE_SUSPENDED" in row.action
    unknown = rows(FakeKernel32(accept=False), SleepTimeout(None, "powercfg failed: boom"))["sleep timeout"]
    assert unknown.status is Status.WARN and "powercfg failed" in unknown.detail


def test_sleep_timeout_row_from_powercfg_output() -> None:
    output = (
        "    Minimum Possible Setting: 0x00000000\n    Maximum Possible Setting: 0xffffffff\n"
        "    Possible Settings increment: 0x00000001\n    Possible Settings units: Seconds\n"
        "  Current AC Power Setting Index: 0x00000708\n  Current DC Power Setting Index: 0x00000384\n"
    )
    timeout = winsys.sleep_timeout(lambda _args: output)
    assert timeout.seconds == 1800
    assert rows(FakeKernel32(accept=False), timeout)["sleep timeout"].status is Status.WARN


def test_quickedit_on_is_ok_when_nore_can_turn_it_off_and_the_mode_is_restored() -> None:
    k32 = FakeKernel32(mode=QUICKEDIT_ON)
    row = rows(k32, NEVER)["console mode"]
    assert row.status is Status.OK and "NORE turns it off for the run" in row.detail
    modes = [m for name, m in k32.calls if name == "SetConsoleMode"]
    assert modes == [QUICKEDIT_OFF | winsys.ENABLE_EXTENDED_FLAGS, QUICKEDIT_ON]
    assert k32.mode == QUICKEDIT_ON, "the doctor leaves the console as it found it"


def test_quickedit_that_cannot_be_turned_off_warns() -> None:
    row = rows(FakeKernel32(mode=QUICKEDIT_ON, accept=False), NEVER)["console mode"]
    assert row.status is Status.WARN and "QuickEdit is on" in row.detail and "Properties" in row.action


@pytest.mark.parametrize(
    ("mode", "detail"), [(QUICKEDIT_OFF, "QuickEdit is off"), (None, "no console input")], ids=["off", "none"]
)
def test_console_without_quickedit_is_ok(mode: int | None, detail: str) -> None:
    k32 = FakeKernel32(mode=mode)
    row = rows(k32, NEVER)["console mode"]
    assert row.status is Status.OK and detail in row.detail
    assert not [c for c in k32.calls if c[0] == "SetConsoleMode"]


@pytest.mark.skipif(sys.platform == "win32", reason="the rows on a machine that is not Windows")
def test_not_applicable_off_windows(tmp_path: Path) -> None:
    found = host.check(DoctorContext({}, tmp_path, "", "", {}))
    assert [(r.check, r.status, r.detail, r.action) for r in found] == [
        (name, Status.OK, "not applicable (not Windows)", "")
        for name in ("keep awake", "sleep timeout", "console mode")
    ]
