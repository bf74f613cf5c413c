"""Every Windows-only call NORE makes, behind typed wrappers (ctypes on kernel32); elsewhere each is a no-op.

- keep-awake: `SetThreadExecutionState(ES_CONTINUOUS | ES_SYSTEM_REQUIRED)` holds the machine out of sleep
  for the run (the display may still sleep); `ES_CONTINUOUS` alone releases it.
- console mode: QuickEdit off for the run (a click in a classic conhost window would otherwise enter
  selection and block every console write until Esc), the original mode restored at the end.
- console control handler: closing the window, logoff, shutdown and Ctrl+Break call a Python function
  (`SetConsoleCtrlHandler`) instead of killing the process at once.
- creation flags for role processes: no console of their own, their own process group.
- timer resolution: 1 ms for market_role's timers (`timeBeginPeriod`, winmm) while it holds conflated books.
- the power plan's sleep timeout (`powercfg`), for `nore doctor`.

The kernel32 layer is the `Kernel32` protocol (winmm's two timer calls the `Winmm` one): tests inject a fake
of it; the real one is loaded lazily on Windows only. Nothing here decides policy; callers (the supervisor) do.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

ES_CONTINUOUS = 0x80000000
ES_SYSTEM_REQUIRED = 0x00000001
ENABLE_QUICK_EDIT_MODE = 0x0040
ENABLE_EXTENDED_FLAGS = 0x0080  # must be set for a change of QuickEdit to take effect
STD_INPUT_HANDLE = -10
CTRL_C_EVENT = 0
CTRL_BREAK_EVENT = 1
CTRL_CLOSE_EVENT = 2
CTRL_LOGOFF_EVENT = 5
CTRL_SHUTDOWN_EVENT = 6
# The events that end the run through the stop file; Ctrl+C stays Python's KeyboardInterrupt.
CONSOLE_EVENTS = {
    CTRL_BREAK_EVENT: "CTRL_BREAK_EVENT",
    CTRL_CLOSE_EVENT: "CTRL_CLOSE_EVENT",
    CTRL_LOGOFF_EVENT: "CTRL_LOGOFF_EVENT",
    CTRL_SHUTDOWN_EVENT: "CTRL_SHUTDOWN_EVENT",
}
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000
POWERCFG_TIMEOUT_S = 10.0
TIMER_PERIOD_MS = 1
TIMERR_NOERROR = 0


class Kernel32(Protocol):
    """The kernel32 functions used here, with ctypes' conventions (BOOL as int, handles as int)."""

    def SetThreadExecutionState(self, flags: int) -> int: ...

    def GetStdHandle(self, which: int) -> int: ...

    def GetConsoleMode(self, handle: int) -> int | None: ...  # None: not a console

    def SetConsoleMode(self, handle: int, mode: int) -> int: ...

    def SetConsoleCtrlHandler(self, handler: Callable[[int], int], add: bool) -> int: ...


class Winmm(Protocol):
    """winmm's timer-resolution calls (both return TIMERR_NOERROR on success)."""

    def timeBeginPeriod(self, period_ms: int) -> int: ...

    def timeEndPeriod(self, period_ms: int) -> int: ...


def is_windows() -> bool:
    """Whether the Windows calls apply on this machine."""
    return sys.platform == "win32"


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    _ROUTINE = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)

    class _RealKernel32:
        """kernel32 through ctypes; keeps the ctypes callbacks alive while they are registered."""

        def __init__(self) -> None:
            dll = ctypes.WinDLL("kernel32", use_last_error=True)
            dll.SetThreadExecutionState.restype = ctypes.c_uint32
            dll.SetThreadExecutionState.argtypes = [ctypes.c_uint32]
            dll.GetStdHandle.restype = wintypes.HANDLE
            dll.GetStdHandle.argtypes = [wintypes.DWORD]
            dll.GetConsoleMode.restype = wintypes.BOOL
            dll.GetConsoleMode.argtypes = [wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD)]
            dll.SetConsoleMode.restype = wintypes.BOOL
            dll.SetConsoleMode.argtypes = [wintypes.HANDLE, wintypes.DWORD]
            dll.SetConsoleCtrlHandler.restype = wintypes.BOOL
            dll.SetConsoleCtrlHandler.argtypes = [_ROUTINE, wintypes.BOOL]
            self._dll = dll
            self._callbacks: dict[Callable[[int], int], Any] = {}

        def SetThreadExecutionState(self, flags: int) -> int:
            return int(self._dll.SetThreadExecutionState(flags))

        def GetStdHandle(self, which: int) -> int:
            return int(self._dll.GetStdHandle(which & 0xFFFFFFFF) or 0)

        def GetConsoleMode(self, handle: int) -> int | None:
            mode = wintypes.DWORD()
            if not self._dll.GetConsoleMode(handle, ctypes.byref(mode)):
                return None
            return int(mode.value)

        def SetConsoleMode(self, handle: int, mode: int) -> int:
            return int(self._dll.SetConsoleMode(handle, mode))

        def SetConsoleCtrlHandler(self, handler: Callable[[int], int], add: bool) -> int:
            # Keyed by the callable itself (a bound method compares equal to a fresh one): removal finds the
            # very callback Windows holds.
            callback = self._callbacks.get(handler) or _ROUTINE(handler)
            ok = int(self._dll.SetConsoleCtrlHandler(callback, add))
            if add:
                self._callbacks[handler] = callback  # ctypes frees an unreferenced callback: Windows would crash
            else:
                self._callbacks.pop(handler, None)
            return ok

    class _RealWinmm:
        def __init__(self) -> None:
            dll = ctypes.WinDLL("winmm")
            for name in ("timeBeginPeriod", "timeEndPeriod"):
                getattr(dll, name).restype = wintypes.UINT
                getattr(dll, name).argtypes = [wintypes.UINT]
            self._dll = dll

        def timeBeginPeriod(self, period_ms: int) -> int:
            return int(self._dll.timeBeginPeriod(period_ms))

        def timeEndPeriod(self, period_ms: int) -> int:
            return int(self._dll.timeEndPeriod(period_ms))


_kernel32: Kernel32 | None = None


def kernel32() -> Kernel32 | None:
    """The real kernel32 on Windows (loaded once), None elsewhere."""
    global _kernel32
    if sys.platform == "win32" and _kernel32 is None:
        _kernel32 = _RealKernel32()
    return _kernel32


def winmm() -> Winmm | None:
    """The real winmm on Windows, None elsewhere."""
    if sys.platform == "win32":
        return _RealWinmm()
    return None


# ---- timer resolution ------------------------------------------------------------------------------------
class FineTimers:
    """1 ms timer resolution for this process while held (`timeBeginPeriod(1)`, released once).

    Windows fires timers on the system tick, 15.6 ms unless a process asks for less, and asyncio's proactor
    waits in GetQueuedCompletionStatus with its timeout: a conflated book would be released up to 15.6 ms
    after its window ends (pipeline latency, issue 14). Since Windows 10 2004 the request changes only this
    process's timers (a window-less process keeps it on Windows 11 too); it costs more timer interrupts."""

    def __init__(self, mm: Winmm | None) -> None:
        self.mm = mm
        self.held = False

    def acquire(self) -> bool:
        """Ask for 1 ms timers; True when Windows granted it (always False elsewhere)."""
        if self.mm is not None and not self.held:
            self.held = self.mm.timeBeginPeriod(TIMER_PERIOD_MS) == TIMERR_NOERROR
        return self.held

    def release(self) -> None:
        """Give the request back (idempotent)."""
        if self.mm is not None and self.held:
            self.mm.timeEndPeriod(TIMER_PERIOD_MS)
            self.held = False


# ---- keep-awake ------------------------------------------------------------------------------------------
class KeepAwake:
    """Hold the machine awake while a run lasts (`with KeepAwake(): ...`, or acquire() / release()).

    Windows ties the state to the calling thread (it ends with the thread): acquire and release from the
    thread that lasts the run (the supervisor's main thread)."""

    def __init__(self, k32: Kernel32 | None = None) -> None:
        self.k32 = k32 if k32 is not None else kernel32()
        self.held = False

    def acquire(self) -> bool:
        """Ask Windows to keep the system (not the display) awake; True when it is held."""
        if self.k32 is not None and not self.held:
            self.held = self.k32.SetThreadExecutionState(ES_CONTINUOUS | ES_SYSTEM_REQUIRED) != 0
        return self.held

    def release(self) -> None:
        """Let the machine sleep again (idempotent)."""
        if self.k32 is not None and self.held:
            self.k32.SetThreadExecutionState(ES_CONTINUOUS)
            self.held = False

    def __enter__(self) -> KeepAwake:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# ---- console mode ----------------------------------------------------------------------------------------
class QuickEditOff:
    """Turn QuickEdit off on the console's input for the run; `restore()` puts back the original mode."""

    def __init__(self, k32: Kernel32 | None = None) -> None:
        self.k32 = k32 if k32 is not None else kernel32()
        self.handle = 0
        self.original: int | None = None  # the mode found, when it was changed

    def apply(self) -> bool:
        """Clear the QuickEdit bit; True when the console mode was changed (False: no console, or already off)."""
        if self.k32 is None or self.original is not None:
            return False
        self.handle = self.k32.GetStdHandle(STD_INPUT_HANDLE)
        mode = self.k32.GetConsoleMode(self.handle) if self.handle else None
        if mode is None or not mode & ENABLE_QUICK_EDIT_MODE:
            return False
        if not self.k32.SetConsoleMode(self.handle, (mode & ~ENABLE_QUICK_EDIT_MODE) | ENABLE_EXTENDED_FLAGS):
            return False
        self.original = mode
        return True

    def restore(self) -> None:
        """Put the original console mode back (idempotent)."""
        if self.k32 is not None and self.original is not None:
            self.k32.SetConsoleMode(self.handle, self.original)
            self.original = None


def console_mode(k32: Kernel32 | None = None) -> int | None:
    """The console input mode, or None when there is no console (or not on Windows)."""
    k = k32 if k32 is not None else kernel32()
    if k is None:
        return None
    handle = k.GetStdHandle(STD_INPUT_HANDLE)
    return k.GetConsoleMode(handle) if handle else None


# ---- console control events ------------------------------------------------------------------------------
class ConsoleEvents:
    """Route close / logoff / shutdown / Ctrl+Break to `on_event(name)` while registered.

    Windows runs the handler on a thread of its own and ends the process soon after it returns for a close
    (about 5 s after the event in any case): `on_event` must do what has to survive (write the stop file),
    and may wait a bounded time for the run to end. Ctrl+C is left to Python (KeyboardInterrupt).
    """

    def __init__(self, on_event: Callable[[str], None], k32: Kernel32 | None = None) -> None:
        self.k32 = k32 if k32 is not None else kernel32()
        self.on_event = on_event
        self.registered = False
        self._routine = self.handler  # one bound method for both register and unregister

    def handler(self, event: int) -> int:
        """The HandlerRoutine: 1 (handled) for the events NORE ends the run on, 0 to pass the others on."""
        name = CONSOLE_EVENTS.get(event)
        if name is None:
            return 0
        self.on_event(name)
        return 1

    def register(self) -> bool:
        """Install the handler; True when Windows accepted it."""
        if self.k32 is not None and not self.registered:
            self.registered = self.k32.SetConsoleCtrlHandler(self._routine, True) != 0
        return self.registered

    def unregister(self) -> None:
        """Remove the handler (idempotent)."""
        if self.k32 is not None and self.registered:
            self.k32.SetConsoleCtrlHandler(self._routine, False)
            self.registered = False


# ---- child processes -------------------------------------------------------------------------------------
def popen_group_kwargs(windows: bool | None = None) -> dict[str, Any]:
    """subprocess.Popen arguments for a role: outside the console's events and Ctrl+C (Windows: no console,
    a process group of its own; POSIX: a new session). The supervisor alone decides how a role ends."""
    if is_windows() if windows is None else windows:
        return {"creationflags": CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW}
    return {"start_new_session": True}


# ---- power plan ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SleepTimeout:
    """The active power plan's "sleep after" on AC power: seconds (0 = never), or why it is unknown."""

    seconds: int | None
    note: str


_HEX_VALUE = re.compile(r":\s*0x([0-9a-fA-F]+)\s*$", re.MULTILINE)


def parse_powercfg(output: str) -> SleepTimeout:
    """Read `powercfg /query SCHEME_CURRENT SUB_SLEEP STANDBYIDLE` output. The labels are translated on a
    non-English Windows, the layout is not: minimum, maximum, increment, then the AC and DC indexes last."""
    values = [int(v, 16) for v in _HEX_VALUE.findall(output)]
    if len(values) < 2:
        return SleepTimeout(None, "powercfg printed no power setting index")
    seconds = values[-2]
    return SleepTimeout(seconds, "never sleeps on AC power" if seconds == 0 else f"sleeps after {seconds} s idle")


def sleep_timeout(run: Callable[[list[str]], str] | None = None) -> SleepTimeout:
    """The power plan's sleep timeout (Windows), or a "not applicable" result elsewhere."""
    if run is None:
        if not is_windows():
            return SleepTimeout(None, "not applicable (not Windows)")
        run = _powercfg
    try:
        return parse_powercfg(run(["powercfg", "/query", "SCHEME_CURRENT", "SUB_SLEEP", "STANDBYIDLE"]))
    except (OSError, subprocess.SubprocessError) as exc:
        return SleepTimeout(None, f"powercfg failed: {exc}")


def _powercfg(args: list[str]) -> str:
    # Labels come in the console's code page; only the ASCII hex values are read.
    done = subprocess.run(
        args, capture_output=True, text=True, errors="replace", timeout=POWERCFG_TIMEOUT_S, check=True
    )
    return done.stdout
