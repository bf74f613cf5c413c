"""Periodic run-wide checks of the watchdog: disk space, consumer lag (R-T6) and critical files (R-T3).

Each check returns `None` when all is well, or `(reason_code, detail)` for a STOP. They only read files
that are replaced atomically (cursors, critical JSON) or appended (queues), so they never disturb a role.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from minibot.contracts.registry import registry
from minibot.journal.atomic import read_critical_json
from minibot.journal.cursor import Cursor
from minibot.journal.layout import INBOX, QueuePaths
from minibot.journal.segments import list_segments
from minibot.reasons import NoreError, ReasonCode

Finding = tuple[ReasonCode, str]
_READ_CHUNK = 1 << 20
WATCHDOG = "watchdog_role"
# Critical JSON files outside the queues (cursors are read by the lag check), relative to the run folder.
CRITICAL_GLOBS = ("run.json", "exchange_info.json", "STOP.flag", "metrics.json", "roles/*/portfolio.json")


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
                while True:
                    fh.seek(state.offset)
                    chunk = fh.read(_READ_CHUNK)
                    state.lines += chunk.count(b"\n")
                    state.offset += chunk.rfind(b"\n") + 1  # a partial last line is read again next time
                    if len(chunk) < _READ_CHUNK or b"\n" not in chunk:
                        break
        return state.lines


class QueueWatch:
    """Line counts of every queue and the lag of every consumer that runs in this run."""

    def __init__(self, queues_dir: Path, names: Iterable[str], running_consumers: Iterable[str]) -> None:
        self.paths = {name: QueuePaths.of(queues_dir, name) for name in names}
        self.counters = {name: LineCounter(p.folder) for name, p in self.paths.items()}
        running = set(running_consumers)
        self.consumers = {name: [c for c in registry().queues[name].consumers if c in running] for name in self.paths}

    def counts(self) -> dict[str, int]:
        """Lines per queue."""
        return {name: counter.lines() for name, counter in self.counters.items()}

    def check(self, max_lag: int) -> Finding | None:
        """Read every consumer's cursor (a damaged one is T3); STOP CONSUMER_LAG beyond `max_lag` lines.

        Cursors are read before the queue is counted: consumers only move forward, so the count taken
        after them is never behind any of them (the other order would race with a fast consumer).
        """
        for name, paths in self.paths.items():
            lines: dict[str, int] = {}
            for consumer in self.consumers[name]:
                path = paths.cursor(consumer)
                try:
                    lines[consumer] = Cursor.from_dict(read_critical_json(path)).line if path.exists() else 0
                except NoreError as exc:
                    return exc.reason_code, exc.detail
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


def check_critical_files(run_dir: Path) -> Finding | None:
    """Every critical JSON file outside the queues must still match its own sha256 (T3)."""
    for pattern in CRITICAL_GLOBS:
        for path in sorted(Path(run_dir).glob(pattern)):
            try:
                read_critical_json(path)
            except NoreError as exc:
                return exc.reason_code, exc.detail
    return None
