"""Periodic run-wide checks of the watchdog: disk space, consumer lag and acks (R-T6), the queues' content
against their hash chains (R-T2, R-T6; scrub.py) and critical files (R-T3).

Each check returns `None` when all is well, or `(reason_code, detail)` for a STOP. They only read files
that are replaced atomically (cursors, critical JSON) or appended (queues), so they never disturb a role.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from minibot.contracts.registry import registry
from minibot.journal.atomic import read_critical_json
from minibot.journal.cursor import Cursor
from minibot.journal.layout import INBOX, QueuePaths
from minibot.journal.segments import list_segments, segment_path
from minibot.reasons import NoreError, ReasonCode
from minibot.runlayout import WATCHED_CRITICAL_GLOBS
from minibot.watchdog.scrub import SCRUB_BOUND_RUN_S, QueueScrub

Finding = tuple[ReasonCode, str]
_READ_CHUNK = 1 << 20


def check_disk(run_dir: Path, min_free_mb: int) -> Finding | None:
    """STOP DISK_LOW when the run's file system has less than `min_free_mb` free."""
    free_mb = psutil.disk_usage(str(run_dir)).free // (1024 * 1024)
    if free_mb < min_free_mb:
        return ReasonCode.DISK_LOW, f"{free_mb} MB free on the run's disk (watchdog.disk_min_free_mb={min_free_mb})"
    return None


@dataclass
class _Counted:
    segment: int = 0
    offset: int = 0
    lines: int = 0


class LineCounter:
    """Counts the complete lines of a queue incrementally (only new bytes are read on each call)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._done = _Counted()

    def lines(self) -> int:
        """Complete lines published so far, across segments."""
        state = self._done
        for index, path in list_segments(self.folder, INBOX):
            if index < state.segment:
                continue
            if index > state.segment:
                state.segment, state.offset = index, 0
            with path.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                while state.offset < size:
                    fh.seek(state.offset)
                    # Sized to what is there: read(n) allocates n bytes first, and 1 MB per queue per check
                    # for a few KB of new lines churns the C heap all night (issue 14, item 4).
                    chunk = fh.read(min(_READ_CHUNK, size - state.offset))
                    state.lines += chunk.count(b"\n")
                    state.offset += chunk.rfind(b"\n") + 1  # a partial last line is read again next time
                    if b"\n" not in chunk:
                        break
        return state.lines


class QueueWatch:
    """Line counts of every queue and the lag of every consumer that runs in this run."""

    def __init__(
        self,
        queues_dir: Path,
        names: Iterable[str],
        running_consumers: Iterable[str],
        scrub_pass_wall_s: float = SCRUB_BOUND_RUN_S / 2,
    ) -> None:
        self.paths = {name: QueuePaths.of(queues_dir, name) for name in names}
        self.counters = {name: LineCounter(p.folder) for name, p in self.paths.items()}
        running = set(running_consumers)
        self.consumers = {name: [c for c in registry().queues[name].consumers if c in running] for name in self.paths}
        self.scrub = QueueScrub({name: p.folder for name, p in self.paths.items()}, scrub_pass_wall_s)

    def counts(self) -> dict[str, int]:
        """Lines per queue."""
        return {name: counter.lines() for name, counter in self.counters.items()}

    def check(self, max_lag: int) -> Finding | None:
        """This call's share of re-verifying the queues, then consumer cursors, acks and lag (`_consumers`).

        The scrub first: a queue cut short also leaves cursors beyond its end, and the STOP should name the cut
        (the cause), not the cursor it strands."""
        return self.scrub.check() or self._consumers(max_lag)

    def _consumers(self, max_lag: int) -> Finding | None:
        """Read every consumer's cursor (a damaged one is T3) and check its acks journal still holds what the
        cursor records; STOP CONSUMER_LAG beyond `max_lag` lines.

        Cursors are read before the queue is counted: consumers only move forward, so the count taken
        after them is never behind any of them (the other order would race with a fast consumer).
        """
        for name, paths in self.paths.items():
            lines: dict[str, int] = {}
            for consumer in self.consumers[name]:
                path = paths.cursor(consumer)
                try:
                    cursor = Cursor.from_dict(read_critical_json(path)) if path.exists() else Cursor.initial()
                except NoreError as exc:
                    return exc.reason_code, exc.detail
                lines[consumer] = cursor.line
                finding = _acks_hold(paths, consumer, cursor)
                if finding is not None:
                    return finding
            total = self.counters[name].lines()
            for consumer, line in lines.items():
                if line > total:
                    return ReasonCode.CURSOR_DESYNC, f"{name}: {consumer} cursor at line {line}, queue has {total}"
                if total - line > max_lag:
                    return (
                        ReasonCode.CONSUMER_LAG,
                        f"{name}: {consumer} is {total - line} lines behind (queues.max_consumer_lag_events={max_lag})",
                    )
        return None


def _acks_hold(paths: QueuePaths, consumer: str, cursor: Cursor) -> Finding | None:
    """Acks only grow: the journal must reach at least where the cursor says the next ack goes."""
    if cursor.acks_offset == 0:
        return None
    acks = segment_path(paths.folder, paths.acks_stem(consumer), cursor.acks_segment)
    size = acks.stat().st_size if acks.exists() else None
    if size is not None and size >= cursor.acks_offset:
        return None
    state = "does not exist" if size is None else f"is {size} bytes"
    return (
        ReasonCode.CURSOR_DESYNC,
        f"{paths.contract.name}/{acks.name} {state} but {consumer}'s cursor records acks up to byte "
        f"{cursor.acks_offset} (line {cursor.line}): the acks journal was deleted or truncated",
    )


def check_critical_files(run_dir: Path) -> Finding | None:
    """Every critical JSON file the watchdog watches (runlayout.WATCHED_CRITICAL_GLOBS; cursors are read by the
    lag check) must still match its own sha256 (T3)."""
    for pattern in WATCHED_CRITICAL_GLOBS:
        for path in sorted(Path(run_dir).glob(pattern)):
            try:
                read_critical_json(path)
            except NoreError as exc:
                return exc.reason_code, exc.detail
    return None
