"""The Windows host rows: the power plan's sleep timeout, whether NORE can hold the machine awake, and the
console mode (QuickEdit). Each probe is undone at once (keep-awake released, the console mode restored).

During a run the supervisor holds the machine awake itself (minibot.watchdog.hostguard): the power plan's
"sleep after" only matters when that hold fails, so it is a WARN only then. Off Windows every row is OK
and says "not applicable": nothing there can sleep the machine or freeze the console on NORE's behalf.
"""

from __future__ import annotations

from minibot import winsys
from minibot.doctor.rows import DoctorContext, Row, Status
from minibot.winsys import KeepAwake, Kernel32, QuickEditOff, SleepTimeout

NOT_APPLICABLE = "not applicable (not Windows)"
NEVER_SLEEP = "set 'Sleep after' (plugged in) to Never in Windows' power settings"


def check(ctx: DoctorContext) -> list[Row]:
    """Rows `keep awake`, `sleep timeout` and `console mode` for this machine."""
    return host_rows(winsys.kernel32(), winsys.sleep_timeout())


def host_rows(k32: Kernel32 | None, timeout: SleepTimeout) -> list[Row]:
    """The three rows for a kernel32 (None: not Windows) and the power plan's sleep timeout."""
    if k32 is None:
        return [Row(name, Status.OK, NOT_APPLICABLE) for name in ("keep awake", "sleep timeout", "console mode")]
    awake = keep_awake_row(k32)
    return [awake, sleep_timeout_row(timeout, can_hold=awake.status is Status.OK), console_mode_row(k32)]


def keep_awake_row(k32: Kernel32) -> Row:
    """Whether SetThreadExecutionState holds the system awake (released again at once)."""
    hold = KeepAwake(k32)
    try:
        held = hold.acquire()
    finally:
        hold.release()
    if held:
        return Row("keep awake", Status.OK, "NORE can hold the machine awake during a run (the display may sleep)")
    return Row(
        "keep awake",
        Status.WARN,
        "Windows refused SetThreadExecutionState: a run cannot keep the machine awake",
        f"{NEVER_SLEEP} for the night (a sleep ends the run with MACHINE_SUSPENDED)",
    )


def sleep_timeout_row(timeout: SleepTimeout, can_hold: bool) -> Row:
    """The power plan's sleep timeout: a fallback when NORE holds the machine awake, a WARN when it cannot."""
    if timeout.seconds == 0:
        return Row("sleep timeout", Status.OK, timeout.note)
    if can_hold:
        return Row(
            "sleep timeout",
            Status.OK,
            f"{timeout.note}; NORE holds the machine awake during a run, this setting is only the fallback",
        )
    return Row(
        "sleep timeout",
        Status.WARN,
        f"{timeout.note} and NORE cannot hold the machine awake: it would sleep during the night",
        f"{NEVER_SLEEP} (a sleep ends the run with MACHINE_SUSPENDED)",
    )


def console_mode_row(k32: Kernel32) -> Row:
    """QuickEdit: OK when off or when NORE can turn it off for the run (tried here, then restored)."""
    mode = winsys.console_mode(k32)
    if mode is None:
        return Row("console mode", Status.OK, "no console input (nothing can pause NORE's console output)")
    if not mode & winsys.ENABLE_QUICK_EDIT_MODE:
        return Row("console mode", Status.OK, "QuickEdit is off")
    quickedit = QuickEditOff(k32)
    try:
        turned_off = quickedit.apply()
    finally:
        quickedit.restore()
    if turned_off:
        return Row(
            "console mode",
            Status.OK,
            "QuickEdit is on; NORE turns it off for the run (a click would otherwise pause the console) "
            "and restores it at the end",
        )
    return Row(
        "console mode",
        Status.WARN,
        "QuickEdit is on and could not be turned off: a click in the window pauses the console output "
        "until Esc (supervision goes on, the dashboard waits)",
        "turn off 'QuickEdit Mode' in the console window's Properties, or run NORE in Windows Terminal",
    )
