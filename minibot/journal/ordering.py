"""The order in which a process's journal writes become durable: causes before effects, across a power cut.

A kill -9 keeps the page cache, a power cut loses whatever was not fsynced, file by file: a later-written
file may survive while an earlier one is lost. Restart recovery reads a role's input log and its queues as the
truth (minibot/roles/runner.py), so an effect that survives its cause makes the restarted role STOP
(OUTPUT_DIVERGED, CURSOR_DESYNC) although nothing was damaged. The process's `WriteOrder` keeps every file it
owes an fsync (and every input segment it read since the last one) and makes them durable together, in rank
order, then in the order they were first written:

    INPUT  the segments of other processes' queues it read: an input log line or an ack names them
    LOG    the role's input log: every output and ack of a batch follows from it
    OUTPUT queue segments and other journals
    CHAIN  chain sidecars: each checkpoint names bytes of its segment
    ACK    acks: each names input lines already logged

Ranks, not the bare write order: one fsync covers a whole file, so files written alternately (log, output,
log) have no order in which every write is durable no later than every later one; the ranks give the one the
recovery needs, whatever the interleaving. Three rules hold it (docs/architecture.md "Durability"):

1. A group commit that falls due takes every file the process owes an fsync, as one job on the flusher
   thread (minibot/journal/flusher.py); inside a held round it starts when the round ends.
2. A write to a file whose fsync is on the flusher first fsyncs inline whatever of a lower rank owes one:
   otherwise that fsync would make the new line durable ahead of a cause written before it (with none owed,
   the line rides on it: market_role's ticks). Nothing waits for the flusher thread, whose scheduling on a
   loaded machine would be the latency. An `always` write
   first fsyncs inline its causes (ranks INPUT and LOG, owed or still on the flusher: `barrier(below=OUTPUT)`);
   an explicit flush, a rotation and a close fsync everything (`barrier()`).
3. A line another process may read is never written before its causes are durable: a core output (it names
   its cause) first makes this process's inputs and input log durable (`barrier(below=OUTPUT)`). So a
   consumer may fsync any line it reads, as rule 1 does with its inputs, without getting ahead of the
   producer's own log.

One order per process (`ORDER`); tests that emulate several processes in one interpreter give each its own
(`using`). The objects bind their order when they are made.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator

from minibot.journal.flusher import FLUSHER
from minibot.journal.watermark import Mark

INPUT, LOG, OUTPUT, CHAIN, ACK = range(5)


class Job:
    """One hand-over to the flusher: its entries' fsyncs in order."""

    def __init__(self, entries: list[Pending]) -> None:
        self.entries = entries
        self._left = len(entries)
        self._cond = threading.Condition()

    def finished(self, entry: Pending, error: OSError | None) -> None:
        """Called from the flusher thread after `entry`'s fsync."""
        with self._cond:
            entry._synced(error)
            self._left -= 1
            self._cond.notify_all()

    def done(self) -> bool:
        """Whether every fsync of the job has run."""
        return self._left == 0

    def wait(self) -> None:
        """Until every fsync of the job has run (as long as the disk takes)."""
        with self._cond:
            while self._left:
                self._cond.wait()


class Pending:
    """Something a process must make durable in order: a file it writes, or an input segment it read."""

    interval_s: float | None = None  # group commit interval: a pending entry with one falls due after it

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.order = current()
        self._pending = False  # owes an fsync (not yet handed over)
        self._job: Job | None = None  # its fsync is on the flusher
        self._last_sync = time.monotonic()
        self._durable_ns = time.perf_counter_ns()
        self._sync_error: OSError | None = None

    def sync_fd(self) -> int | None:
        """The descriptor to fsync (None: nothing open)."""
        raise NotImplementedError

    def needs_sync(self) -> bool:
        """Whether what it owes still needs an fsync of `sync_fd()` (InputSync: not when its producer's watermark
        covers it)."""
        return True

    def sync_mark(self) -> Mark | None:
        """Taken just before an fsync of `sync_fd()` starts: what it will make durable (see `after_sync`)."""
        return None

    def after_sync(self, mark: Mark | None) -> None:
        """After an fsync that started when `sync_mark()` returned `mark` completed (any thread)."""

    def commit_at(self) -> float:
        """Monotonic time at which a group commit of what this entry owes falls due."""
        return self._last_sync + (self.interval_s or 0.0)

    def _synced(self, error: OSError | None) -> None:
        """After its fsync on the flusher thread."""
        if error is not None:
            self._sync_error = error
        else:
            self._durable_ns = time.perf_counter_ns()  # what was written before the hand-over is on disk now
        self._job = None

    def _raise_sync_error(self) -> None:
        if self._sync_error is not None:
            error, self._sync_error = self._sync_error, None
            raise error


class WriteOrder:
    """A process's entries that owe an fsync, and the jobs on the flusher (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Pending, None] = {}  # insertion order = order of first write since the last fsync
        self._jobs: list[Job] = []

    def note(self, entry: Pending) -> None:
        """`entry` was written (or read from) and owes an fsync."""
        if not entry._pending:
            with self._lock:
                entry._pending = True
                self._pending[entry] = None

    def owes_below(self, rank: int) -> bool:
        """Whether an entry of a rank below `rank` owes an fsync (a cause of what that rank writes may not be
        durable yet)."""
        return any(e.rank < rank for e in list(self._pending))

    def _take(self, below: int | None) -> list[Pending]:
        """Under the lock: the pending entries (of rank < `below`), ranks first, then first-write order."""
        taken = [e for e in self._pending if below is None or e.rank < below]
        for entry in taken:
            del self._pending[entry]
            entry._pending = False
        return sorted(taken, key=lambda e: e.rank)

    def _busy(self) -> list[Job]:
        """Under the lock: the jobs still on the flusher."""
        self._jobs = [job for job in self._jobs if not job.done()]
        return self._jobs

    def commit_if_due(self) -> None:
        """Rule 1: when some pending group entry's interval has passed, hand every pending entry to the flusher
        as one job. Not while a job is still running (a slow disk gets fewer fsyncs, not more), nor inside a
        held round (it ends with this call)."""
        if FLUSHER.holding():
            return
        now = time.monotonic()
        with self._lock:
            if not self._pending or self._busy():
                return
            if not any(e.interval_s is not None and now >= e.commit_at() for e in self._pending):
                return
            entries = self._take(None)
            syncs = [(e, fd, e.sync_mark()) for e in entries if (fd := e.sync_fd()) is not None and e.needs_sync()]
            job = Job([e for e, _, _ in syncs])
            for entry in entries:
                entry._last_sync = now
            for entry, _, _ in syncs:
                entry._job = job
            self._jobs.append(job)
        FLUSHER.run([(fd, _done(entry, job, mark)) for entry, fd, mark in syncs])

    def barrier(self, below: int | None = None) -> None:
        """Rule 2: fsync inline, in rank order, what is owed and what is on the flusher (only ranks < `below`
        when given). The files on the flusher are fsynced here too rather than waited for: their content is
        what was written before their job, the job fsyncs them again (cheaply) later, and the writer does not
        wait for another thread to be scheduled (a loaded machine). A failed fsync raises; what it and the
        rest owed stays owed."""
        with self._lock:
            flying = [e for job in self._busy() for e in job.entries if e._job is job]
            if below is not None:
                flying = [e for e in flying if e.rank < below]
            if not flying and not any(below is None or e.rank < below for e in self._pending):
                return  # the common case of rule 3: nothing of the causes is owed
            owed = self._take(below)
        left = set(owed)
        for entry in sorted(owed + [e for e in flying if e not in left], key=lambda e: e.rank):
            fd = entry.sync_fd()
            try:
                if fd is not None and entry.needs_sync():
                    mark = entry.sync_mark()
                    os.fsync(fd)
                    entry.after_sync(mark)
            except OSError:
                for rest in owed:
                    if rest in left:
                        self.note(rest)
                raise
            if entry in left:
                left.discard(entry)
                entry._last_sync = time.monotonic()
                entry._durable_ns = time.perf_counter_ns()

    def commit_owed(self) -> float | None:
        """Commit if due (rule 1); return the seconds until the next group commit falls due (None: nothing
        owed). While a job still runs, look again one interval later instead of at once, over and over."""
        self.commit_if_due()
        now = time.monotonic()
        with self._lock:
            group = [e for e in self._pending if e.interval_s is not None]
            if not group:
                return None
            left = min(e.commit_at() for e in group) - now
            if self._busy():
                left = max(left, min(e.interval_s or 0.0 for e in group))
        return max(0.0, left)


def _done(entry: Pending, job: Job, mark: Mark | None) -> Callable[[OSError | None], None]:
    """The flusher's callback for `entry`'s fsync in `job` (`mark`: what it made durable)."""

    def done(error: OSError | None) -> None:
        if error is None:
            entry.after_sync(mark)
        job.finished(entry, error)

    return done


ORDER = WriteOrder()
"""The process's write order."""
_active = ORDER


def current() -> WriteOrder:
    """The write order new journal objects bind to: the process's, unless a test emulates another process."""
    return _active


@contextlib.contextmanager
def using(order: WriteOrder) -> Iterator[WriteOrder]:
    """Bind the journal objects made in the block to `order` (one emulated process of a test)."""
    global _active
    previous, _active = _active, order
    try:
        yield order
    finally:
        _active = previous


def commit_owed() -> float | None:
    """The process's `WriteOrder.commit_owed`: a role calls it before it sleeps and wakes by the time returned,
    so every `group:<N>ms` file it wrote is fsynced on time however long it would otherwise sleep
    (minibot/roles/wake.py)."""
    return current().commit_owed()


FLUSHER.on_release(lambda: current().commit_if_due())
