"""Append-only sha256 JSONL files split into size-bounded segments, and the fsync policy.

A journal named `inbox` in a folder is the sequence `inbox.jsonl` (segment 0, the R-A2 name),
`inbox.000001.jsonl`, `inbox.000002.jsonl`, ... Files are never renamed (Windows cannot rename a file
another process holds open); a writer starts segment k+1 only after segment k ends on a whole line, so a
reader that sees k+1 exist knows k is final. Appends are one `write()` per batch of whole lines.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from minibot.journal.ordering import OUTPUT, Pending
from minibot.journal.ordering import commit_owed as commit_owed  # where minibot/roles/wake.py finds it
from minibot.journal.watermark import Mark, MarkWriter, mark_path

SEGMENT_RE = r"^{stem}(?:\.(\d{{6}}))?\.jsonl{suffix}$"


APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
"""Flags for appending whole lines; O_BINARY keeps Windows from turning \n into \r\n."""


def segment_path(folder: Path, stem: str, index: int) -> Path:
    """Path of segment `index` of journal `stem` (segment 0 is `<stem>.jsonl`)."""
    return folder / (f"{stem}.jsonl" if index == 0 else f"{stem}.{index:06d}.jsonl")


class SegmentNames:
    """`segment_path` of one journal, each segment's path built once: the hot paths that stat or open a
    segment on every round of an idle role (consumer polls, watermark reads, publishes; issue 14) reuse it.
    Holds the few most recent segments only (a night rotates a handful of times)."""

    _KEEP = 4

    def __init__(self, folder: Path, stem: str) -> None:
        self.folder = folder
        self.stem = stem
        self._paths: dict[int, Path] = {}

    def __call__(self, index: int) -> Path:
        path = self._paths.get(index)
        if path is None:
            if len(self._paths) >= self._KEEP:
                self._paths.clear()
            path = self._paths[index] = segment_path(self.folder, self.stem, index)
        return path


def list_segments(folder: Path, stem: str, suffix: str = "") -> list[tuple[int, Path]]:
    """Existing segments of `stem` in order (with `suffix`: the files named after them, e.g. `.chain`)."""
    pattern = re.compile(SEGMENT_RE.format(stem=re.escape(stem), suffix=re.escape(suffix)))
    found = []
    if folder.is_dir():
        for entry in folder.iterdir():
            m = pattern.match(entry.name)
            if m:
                found.append((int(m.group(1) or 0), entry))
    return sorted(found)


@dataclass(frozen=True, slots=True)
class FsyncPolicy:
    """`always`, `none`, or group commit at most every `interval_ms` (`group:<N>ms`)."""

    mode: str
    interval_ms: int = 0

    @classmethod
    def parse(cls, text: str) -> FsyncPolicy:
        """Parse `always` | `none` | `group:<N>ms`."""
        if text in ("always", "none"):
            return cls(text)
        m = re.fullmatch(r"group:([1-9]\d{0,4})ms", text)
        if not m:
            raise ValueError(f"fsync policy {text!r}: expected 'always', 'none' or 'group:<N>ms'")
        return cls("group", int(m.group(1)))

    def __str__(self) -> str:
        return f"group:{self.interval_ms}ms" if self.mode == "group" else self.mode


class PolicyFile(Pending):
    """An append-only file descriptor fsynced by a policy: `always` at each write, `group` at most every
    interval on the process's flusher thread (minibot/journal/flusher.py), `none` never; in either case no
    later than every file the process wrote before (minibot/journal/ordering.py). Shared by segments and their
    chain sidecars."""

    def __init__(self, fsync: FsyncPolicy, rank: int = OUTPUT) -> None:
        super().__init__(rank)
        self.fsync = fsync
        self.interval_s = fsync.interval_ms / 1000.0 if fsync.mode == "group" else None
        self._fd: int | None = None

    def sync_fd(self) -> int | None:
        """The descriptor to fsync (None while closed)."""
        return self._fd

    def _before_write(self) -> None:
        """Ordering rule 2, before each write: while this file's fsync is on the flusher, whatever of a lower
        rank owes one is fsynced first (inline), and an `always` write comes only after its causes (the inputs
        read, the input log) are durable: before the write, not only before its fsync, since the kernel may
        write a page back at any time after the write."""
        self._raise_sync_error()
        if self.fsync.mode == "always":
            self.order.barrier(below=OUTPUT)
        elif self._job is not None and self.order.owes_below(self.rank):
            self.order.barrier(below=self.rank)

    def _written(self) -> None:
        """Apply the policy after a write."""
        if self.fsync.mode == "none":
            self._durable_ns = time.perf_counter_ns()  # the write is all the policy asks for
        elif self.fsync.mode == "always":
            assert self._fd is not None
            mark = self.sync_mark()
            os.fsync(self._fd)
            self.after_sync(mark)
            self._last_sync = time.monotonic()
            self._durable_ns = time.perf_counter_ns()
        else:
            self.order.note(self)
            self.order.commit_if_due()

    def _flush_now(self) -> None:
        """Fsync now, inline, with everything the process wrote before (never under `none`)."""
        self._raise_sync_error()
        if self.fsync.mode != "none":
            self.order.barrier()

    def durable_ns(self) -> int | None:
        """`time.perf_counter_ns()` when everything written so far had completed its fsync policy; None while
        a write waits for its group commit (the pipeline latency ends there: minibot/roles/fill_timing.py)."""
        if self.fsync.mode == "group" and (self._pending or self._job is not None):
            return None
        return self._durable_ns

    def flush_if_due(self) -> None:
        """Group commit tick: when an interval has passed, the flusher fsyncs what the process owes (ordering
        rule 1; the next waits until it is done, so a slow disk gets fewer, not more). A failed one raises here."""
        self._raise_sync_error()
        self.order.commit_if_due()

    def close(self) -> None:
        """Flush (per policy) and close."""
        if self._fd is not None:
            self._flush_now()
            os.close(self._fd)
            self._fd = None


class SegmentAppender(PolicyFile):
    """Appends batches of whole lines to the newest segment, rotating by size, with an fsync policy.

    Not thread-safe; callers serialize (a process lock plus, for shared queues, a file lock).
    """

    def __init__(
        self,
        folder: Path,
        stem: str,
        fsync: FsyncPolicy,
        segment_max_bytes: int,
        rank: int = OUTPUT,
        *,
        watermark: bool = False,
    ) -> None:
        super().__init__(fsync, rank)
        self.folder = folder
        self.stem = stem
        self.segment_max_bytes = segment_max_bytes
        self.index = -1
        self._name = SegmentNames(folder, stem)
        # With `watermark`, each completed fsync publishes how far the segments are durable, so the consumers
        # need not fsync them again (minibot/journal/watermark.py).
        self._mark = MarkWriter(mark_path(folder, stem)) if watermark and fsync.mode != "none" else None
        self._end: Mark = (-1, -1)  # where this appender's last write ended

    def sync_mark(self) -> Mark | None:
        """Where this appender's last write ended, as an fsync starts: what the fsync makes durable at least
        (another producer's later bytes in a shared segment make the mark lower than it could be, never false)."""
        return self._end if self._mark is not None else None

    def after_sync(self, mark: Mark | None) -> None:
        """Publish the watermark the completed fsync reached (MarkWriter skips one no higher than before)."""
        if mark is not None and self._mark is not None:
            self._mark.publish(*mark)

    def _open(self, index: int) -> None:
        super().close()  # the segment's descriptor only: the mark's stays open across rotations
        path = segment_path(self.folder, self.stem, index)
        self._fd = os.open(path, APPEND_FLAGS, 0o644)
        self.index = index

    def close(self) -> None:
        """Flush (per policy) and close the segment and the mark."""
        super().close()
        if self._mark is not None:
            self._mark.close()

    def current_path(self) -> Path:
        """Path of the segment being appended to."""
        return self._name(self.index)

    def sync_to_newest(self) -> Path:
        """Point at the newest segment (another writer may have rotated); create segment 0 if none.

        Segments are contiguous and a writer starts k+1 only after k is final, so while the open segment
        exists and the next does not, it is the newest: two stats instead of a directory listing on every
        publish (issue 14, idle cost)."""
        if (
            self._fd is not None
            and os.path.exists(self._name(self.index))
            and not os.path.exists(self._name(self.index + 1))
        ):
            return self.current_path()
        segments = list_segments(self.folder, self.stem)
        newest = segments[-1][0] if segments else 0
        if self._fd is None or newest != self.index:
            self._open(newest)
        return self.current_path()

    def size(self) -> int:
        """Current size of the segment being appended to."""
        if self._fd is None:
            self.sync_to_newest()
        assert self._fd is not None
        return os.fstat(self._fd).st_size

    def needs_rotation(self, nbytes: int) -> bool:
        """Whether appending `nbytes` starts a new segment (the current one is non-empty and would exceed the bound)."""
        size = self.size()
        return bool(size) and size + nbytes > self.segment_max_bytes

    def append(self, data: bytes) -> tuple[int, int]:
        """Write `data` (whole lines) with one write(); return (segment index, end offset)."""
        size = self.size()  # one fstat serves the rotation check and the end offset (issue 14, idle cost)
        if size and size + len(data) > self.segment_max_bytes:
            self._flush_now()
            self._open(self.index + 1)
            assert self._fd is not None
            size = os.fstat(self._fd).st_size
        assert self._fd is not None
        self._before_write()
        try:
            written = os.write(self._fd, data)
        except OSError:
            self._cut_back(size)
            raise
        if written != len(data):  # a full disk (ENOSPC) cuts a write short: leave no torn line behind
            self._cut_back(size)
            raise OSError(
                errno.ENOSPC,
                f"{os.strerror(errno.ENOSPC)}: short write to {self.current_path()}: {written} of {len(data)} bytes",
            )
        self._end = (self.index, size + written)
        self._written()
        return self._end

    def _cut_back(self, size: int) -> None:
        """Truncate the segment to `size`, its length before a failed append (best effort: disk trouble)."""
        assert self._fd is not None
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, size)

    def flush(self) -> None:
        """Fsync what was appended now (per policy: never under `none`)."""
        self._flush_now()
