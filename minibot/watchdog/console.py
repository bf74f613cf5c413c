"""Console output that can never hold up supervision: one writer thread, bounded queues, frames dropped.

A console write can block for as long as the operator likes (a click in a classic Windows console enters
QuickEdit selection and blocks every write until Esc; a pipe nobody reads blocks once full). So the
supervisor never writes to the console itself: `say()` queues a line (bounded: when `max_lines` are
waiting the oldest is dropped and counted), `frame()` replaces the one pending dashboard frame (a blocked
console simply sees fewer frames), `call()` queues an ordered action (closing the dashboard). The writer
thread writes to the raw stdout (no Python buffer lock that a blocked write would hold at interprocess
exit), and `drain()` waits a bounded time at the end: the summary is in the supervisor log in any case.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TextIO, cast

from minibot.metrics.dashboard import Dashboard

MAX_LINES = 1000
DRAIN_S = 5.0
RAW_RETRY_S = 0.02
log = logging.getLogger("nore.supervisor.console")

Sink = Callable[[str], None]


def stdout_sink(stream: TextIO | None = None) -> Sink:
    """Write text to `stream` (sys.stdout) through its raw file when it has one, else through the stream."""
    out = stream if stream is not None else sys.stdout
    out.flush()
    raw = getattr(getattr(out, "buffer", None), "raw", None)
    if raw is None:

        def write_stream(text: str) -> None:
            out.write(text)
            out.flush()

        return write_stream
    encoding = out.encoding or "utf-8"

    def write_raw(text: str) -> None:
        data = memoryview(text.encode(encoding, "replace"))
        while data:
            written = raw.write(data)
            if written is None:  # a non-blocking stream that is full: try again shortly
                time.sleep(RAW_RETRY_S)
                continue
            data = data[written:]

    return write_raw


class SinkStream:
    """A text stream (for rich and the plain dashboard) whose writes go to a sink on the writer thread."""

    def __init__(self, sink: Sink, like: TextIO | None = None) -> None:
        self.sink = sink
        self.like = like if like is not None else sys.stdout
        self.encoding = getattr(self.like, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        """Hand `text` to the sink."""
        self.sink(text)
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered here."""

    def isatty(self) -> bool:
        """Whether the real stdout is a terminal."""
        return bool(self.like.isatty())

    def fileno(self) -> int:
        """The real stdout's descriptor (rich asks for it on Windows)."""
        return self.like.fileno()


class ConsoleOut:
    """The supervisor's only way to the console; see the module docstring."""

    def __init__(self, sink: Sink | None = None, max_lines: int = MAX_LINES) -> None:
        self.sink = sink if sink is not None else stdout_sink()
        self._ops: deque[tuple[int, Callable[[], None]]] = deque()
        self._max = max_lines
        self._frame: tuple[int, Callable[[], None]] | None = None
        self._seq = 0  # frames and queued actions are written in the order they came
        self._cond = threading.Condition()
        self._busy = False
        self.dropped_lines = 0
        self.dropped_frames = 0
        self._thread = threading.Thread(target=self._loop, name="nore-console", daemon=True)
        self._thread.start()

    def say(self, line: str) -> None:
        """Queue one line (never blocks)."""
        self.call(lambda: self.sink(line + "\n"))

    def call(self, action: Callable[[], None]) -> None:
        """Queue an action for the writer thread, in order with the lines."""
        with self._cond:
            if len(self._ops) >= self._max:
                self._ops.popleft()
                self.dropped_lines += 1
            self._seq += 1
            self._ops.append((self._seq, action))
            self._cond.notify()

    def frame(self, draw: Callable[[], None]) -> None:
        """Replace the pending dashboard frame (the one not drawn yet is dropped)."""
        with self._cond:
            if self._frame is not None:
                self.dropped_frames += 1
            self._seq += 1
            self._frame = (self._seq, draw)
            self._cond.notify()

    def drain(self, timeout_s: float = DRAIN_S) -> bool:
        """Wait up to `timeout_s` until everything queued is written; False when the console stayed blocked."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._ops or self._frame is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.error("the console is blocked: %d queued lines not shown", len(self._ops))
                    return False
                self._cond.wait(left)
        return True

    def _next(self) -> Callable[[], None]:
        with self._cond:
            while not self._ops and self._frame is None:
                self._cond.wait()
            self._busy = True
            if self._frame is not None and (not self._ops or self._frame[0] < self._ops[0][0]):
                action, self._frame = self._frame[1], None
                return action
            return self._ops.popleft()[1]

    def _loop(self) -> None:
        while True:
            action = self._next()
            try:
                action()
            except Exception:  # a console that fails must not end the run; the log keeps why
                log.exception("console output failed")
            with self._cond:
                self._busy = False
                self._cond.notify_all()


class ConsoleDashboard:
    """The dashboard drawn on the console's writer thread: `update()` and `close()` return at once."""

    def __init__(self, console: ConsoleOut, dashboard: Dashboard) -> None:
        self.console = console
        self.dashboard = dashboard

    @property
    def is_terminal(self) -> bool:
        """Whether the live (rich) view is drawn."""
        return self.dashboard.is_terminal

    def update(self, metrics: Mapping[str, Any]) -> None:
        """Draw this metrics document when the console can take it (a newer one replaces it)."""
        self.console.frame(lambda: self.dashboard.update(metrics))

    def close(self) -> None:
        """Leave the final view (after the frames already queued)."""
        self.console.call(self.dashboard.close)


def dashboard_stream(console: ConsoleOut) -> TextIO:
    """The stream a Dashboard draws into: the console's sink, on its writer thread."""
    return cast(TextIO, SinkStream(console.sink))
