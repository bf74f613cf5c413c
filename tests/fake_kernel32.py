"""Fakes of the kernel32 and winmm layers minibot.winsys wraps (the Windows calls cannot run here)."""

from __future__ import annotations

from collections.abc import Callable

from minibot import winsys


class FakeKernel32:
    """kernel32 as the wrappers see it: records every call, holds one console's input mode."""

    def __init__(self, mode: int | None = 0x01F7, accept: bool = True) -> None:
        self.mode = mode
        self.accept = accept
        self.calls: list[tuple[str, object]] = []
        self.handlers: list[Callable[[int], int]] = []
        self.execution_state = 0

    def SetThreadExecutionState(self, flags: int) -> int:
        self.calls.append(("SetThreadExecutionState", flags))
        previous, self.execution_state = self.execution_state, flags
        return (previous or winsys.ES_CONTINUOUS) if self.accept else 0

    def GetStdHandle(self, which: int) -> int:
        self.calls.append(("GetStdHandle", which))
        return 7 if self.mode is not None else 0

    def GetConsoleMode(self, handle: int) -> int | None:
        self.calls.append(("GetConsoleMode", handle))
        return self.mode

    def SetConsoleMode(self, handle: int, mode: int) -> int:
        self.calls.append(("SetConsoleMode", mode))
        if not self.accept:
            return 0
        self.mode = mode
        return 1

    def SetConsoleCtrlHandler(self, handler: Callable[[int], int], add: bool) -> int:
        self.calls.append(("SetConsoleCtrlHandler", add))
        if not self.accept:
            return 0
        if add:
            self.handlers.append(handler)
        else:
            # Windows removes the very function pointer it was given: an equal but other object is not found.
            kept = [h for h in self.handlers if h is not handler]
            if len(kept) == len(self.handlers):
                return 0
            self.handlers = kept
        return 1


class FakeWinmm:
    """winmm's timer-resolution calls: records them, grants (TIMERR_NOERROR) or refuses (TIMERR_NOCANDO)."""

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.calls: list[tuple[str, int]] = []
        self.requests = 0  # periods asked for and not given back

    def timeBeginPeriod(self, period_ms: int) -> int:
        self.calls.append(("timeBeginPeriod", period_ms))
        if not self.accept:
            return 97  # TIMERR_NOCANDO
        self.requests += 1
        return winsys.TIMERR_NOERROR

    def timeEndPeriod(self, period_ms: int) -> int:
        self.calls.append(("timeEndPeriod", period_ms))
        self.requests -= 1
        return winsys.TIMERR_NOERROR
