"""The input side of a process's write order: the segment of another process's queue it reads is made
durable before anything it writes after reading it (minibot/journal/ordering.py, rank INPUT, rule 3), unless
the queue's durable watermark says its producer did that already (minibot/journal/watermark.py)."""

from __future__ import annotations

import os
from pathlib import Path

from minibot.journal.ordering import INPUT, Pending
from minibot.journal.watermark import MarkReader

_WRITE_FLAGS = os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0)
"""An input segment is fsynced through a descriptor opened for writing (never written to): Windows'
FlushFileBuffers refuses a read-only handle, POSIX fsync takes either."""


class InputSync(Pending):
    """The segment of another process's queue this process reads: its lines are made durable (rule 1) before
    anything written after reading them, which may name them (input log, acks, outputs). Not when the queue's
    durable watermark already covers them (its producer fsynced them: minibot/journal/watermark.py)."""

    def __init__(self, mark: Path | None = None) -> None:
        super().__init__(INPUT)
        self._fd: int | None = None
        self._segment = -1
        self._end = 0
        self._mark = MarkReader(mark) if mark is not None else None
        self.skipped = 0  # fsyncs the watermark made unnecessary

    def sync_fd(self) -> int | None:
        """The descriptor of the segment read last (None: nothing open)."""
        return self._fd

    def needs_sync(self) -> bool:
        """False when the producer's watermark says every byte read is durable already (counted in `skipped`)."""
        if self._mark is not None and self._mark.covers(self._segment, self._end):
            self.skipped += 1
            return False
        return True

    def read(self, path: Path, segment: int, end: int) -> None:
        """Lines of `segment` (at `path`) were read up to byte `end`. A segment left behind needs nothing more:
        its writer fsynced it before starting the next (minibot/journal/segments.py `SegmentAppender.append`)."""
        self._raise_sync_error()
        if segment != self._segment:
            self.close()
            self._fd = os.open(path, _WRITE_FLAGS)
            self._segment = segment
        self._end = end
        self.order.note(self)

    def close(self) -> None:
        """Close the descriptor (the flusher fsyncs a duplicate of its own)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._segment = -1
        if self._mark is not None:
            self._mark.close()
