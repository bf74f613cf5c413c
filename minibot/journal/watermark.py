"""A queue's durable watermark: how far its producers' fsyncs have made the segments durable (issue 14).

A consumer makes what it read durable before anything it writes after reading it (minibot/journal/ordering.py,
INPUT), although the producer fsyncs the same bytes by its own policy: every group commit of every consumer
paid an fsync of another process's file. A producer now publishes, after an fsync of its segment completed,
the (segment, offset) up to which it was durable then; a consumer fsyncs an input segment only when it read
bytes beyond that mark, and skips the fsync when the mark covers them (the bytes are on disk already).

The mark file (`<stem>.durable`, next to the segments) is live state, not a record: it is rewritten in place,
never fsynced (after a power cut nobody has read the bytes it names, and restart recovery does not read it),
one fixed-width line with its own CRC, so a torn or interleaved write (two producers of one queue) reads as
no mark at all, which only costs the consumer its fsync. A lower mark written after a higher one by another
producer is true as well (durable bytes never shrink), just less useful.
"""

from __future__ import annotations

import os
import threading
import zlib
from pathlib import Path

_FORMAT = "{segment:06d} {offset:015d} {crc:08x}\n"
_SIZE = len(_FORMAT.format(segment=0, offset=0, crc=0))
_FLAGS = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0)


Mark = tuple[int, int]
"""(segment, offset): every byte of `segment` up to `offset`, and of every earlier segment, is durable."""


def mark_path(folder: Path, stem: str) -> Path:
    """The mark file of journal `stem` in `folder`."""
    return folder / f"{stem}.durable"


def _crc(segment: int, offset: int) -> int:
    return zlib.crc32(f"{segment} {offset}".encode("ascii"))


def encode(segment: int, offset: int) -> bytes:
    """The mark's one line."""
    return _FORMAT.format(segment=segment, offset=offset, crc=_crc(segment, offset)).encode("ascii")


def decode(raw: bytes) -> Mark | None:
    """(segment, offset) of a mark line, None for anything else (missing, torn, interleaved)."""
    if len(raw) != _SIZE:
        return None
    try:
        seg_text, off_text, crc_text = raw.decode("ascii").split()
        segment, offset, crc = int(seg_text), int(off_text), int(crc_text, 16)
    except ValueError:
        return None
    return (segment, offset) if crc == _crc(segment, offset) else None


class MarkWriter:
    """Rewrites one queue's mark through a descriptor kept open across segment rotations (a producer publishes
    after every completed fsync, so open and close each time would double its system calls). Thread-safe: the
    flusher thread and an inline fsync both publish, and may complete out of order: a mark no higher than one
    already published is skipped. A publish after `close()` (a flusher job that completes once its producer
    closed) does nothing, so no descriptor outlives its producer: the mark only saves consumers an fsync, it
    is never owed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._closed = False
        self._published: Mark = (-1, -1)
        self._lock = threading.Lock()

    def publish(self, segment: int, offset: int) -> None:
        """Rewrite the mark in place (not fsynced: see the module docstring), unless an earlier publish was as
        high. Called only after the fsync that made `segment` durable up to `offset` completed."""
        with self._lock:
            if self._closed or (segment, offset) <= self._published:
                return
            self._published = (segment, offset)
            if self._fd is None:
                self._fd = os.open(self.path, _FLAGS, 0o644)
            os.lseek(self._fd, 0, os.SEEK_SET)  # no os.pwrite on Windows
            os.write(self._fd, encode(segment, offset))

    def close(self) -> None:
        """Close the descriptor; later publishes do nothing."""
        with self._lock:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class MarkReader:
    """Reads one queue's mark through a descriptor kept open (a consumer asks at every group commit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._seen: Mark | None = None  # the highest mark read: durable bytes never shrink, so it stays true

    def read(self) -> Mark | None:
        """The mark now, or None when there is none (yet) or it cannot be read whole."""
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            except OSError:
                return None
        try:
            os.lseek(self._fd, 0, os.SEEK_SET)  # no os.pread on Windows
            mark = decode(os.read(self._fd, _SIZE + 1))
        except OSError:
            self.close()
            return None
        if mark is not None and (self._seen is None or mark > self._seen):
            self._seen = mark
        return mark

    def covers(self, segment: int, offset: int) -> bool:
        """Whether every byte of `segment` up to `offset` is durable by the mark (a mark in a later segment
        covers all of it: a writer fsyncs a segment before it starts the next). The file is read only when the
        highest mark seen so far does not cover them already."""
        return _covers(self._seen, segment, offset) or _covers(self.read(), segment, offset)

    def close(self) -> None:
        """Close the descriptor."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _covers(mark: Mark | None, segment: int, offset: int) -> bool:
    return mark is not None and (mark[0] > segment or (mark[0] == segment and mark[1] >= offset))
