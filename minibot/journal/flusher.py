"""Group-commit fsyncs off the writer's thread: one daemon thread per process runs them (issue 14, throughput).

Under `group:<N>ms` a journal file is fsynced at most every N ms. Done inline, each of those fsyncs stops the
role for as long as the disk takes (0.5-10 ms on a desktop disk, more on a busy one), several times per
interval when a role writes several files. Here the writer hands the fsync to this thread and goes on: the
policy's promise is unchanged (what was written is fsynced within about N ms plus the fsync itself), the
writer just does not wait for it. The thread works on a duplicate of the file descriptor (`os.dup`), so the
writer may close or rotate its file meanwhile; fsync of a duplicate flushes the same file (POSIX fsync and
Windows FlushFileBuffers act on the file, not the descriptor). A failed fsync is handed back to the file,
which raises it on its next write or flush: disk trouble still fails closed in the writer's thread.

Only the group policy goes through here: `always` stays inline (the lines are on disk when `append` returns),
and so do the explicit flushes that order two files (acks before the cursor checkpoint, a segment before it
is rotated, everything on close).

A role's round writes several group files (its input log, its outputs, the acks of its inputs), each due for
its fsync at once at 1x, since rounds are farther apart than the interval. Handed over one by one, each wakes
the thread, which then fights the writer for the GIL (issue 14, idle cost). Inside `held()` (a core role's
round) the fsyncs asked for are collected and handed over as one job when the round ends, a fraction of a
millisecond later: one wake-up per round, the files fsynced in the order they were asked for.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator

Done = Callable[[OSError | None], None]
Job = list[tuple[int, Done]]


class Flusher:
    """Runs fsyncs on a daemon thread, in the order they were asked for."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None
        self._held: Job | None = None  # fsyncs collected inside `held()`
        self._holder = 0  # the thread inside `held()`: other threads' fsyncs are handed over at once
        self._hold_lock = threading.Lock()

    def submit(self, fd: int, done: Done) -> None:
        """Fsync the file open as `fd` soon; `done(error or None)` is called from the flusher thread after.
        Inside `held()` the fsync is handed over when the block ends."""
        entry = (os.dup(fd), done)
        with self._hold_lock:
            if self._held is not None and threading.get_ident() == self._holder:
                self._held.append(entry)
                return
        self._hand_over([entry])

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Collect the fsyncs submitted in the block and hand them over as one job when it ends (even by an
        exception: what was written is fsynced all the same). One thread at a time: an inner block, or one
        in another thread while a block is open, hands its fsyncs over one by one as outside."""
        with self._hold_lock:
            if self._held is not None:
                job = None
            else:
                job = self._held = []
                self._holder = threading.get_ident()
        if job is None:
            yield
            return
        try:
            yield
        finally:
            with self._hold_lock:
                self._held, self._holder = None, 0
            if job:
                self._hand_over(job)

    def _hand_over(self, job: Job) -> None:
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="nore-fsync", daemon=True)
                    self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            for fd, done in self._jobs.get():
                error: OSError | None = None
                try:
                    os.fsync(fd)
                except OSError as exc:
                    error = exc
                finally:
                    with contextlib.suppress(OSError):  # a duplicate only this thread holds
                        os.close(fd)
                done(error)


FLUSHER = Flusher()
"""The process's flusher (its thread starts with the first group-commit fsync)."""
