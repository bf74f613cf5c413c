"""Group-commit fsyncs off the writer's thread: one daemon thread per process runs them (issue 14, throughput).

Under `group:<N>ms` a journal file is fsynced at most every N ms. Done inline, each of those fsyncs stops the
role for as long as the disk takes (0.5-10 ms on a desktop disk, more on a busy one), several times per
interval when a role writes several files. Here the writer hands the fsyncs to this thread and goes on: the
policy's promise is unchanged (what was written is fsynced within about N ms plus the fsync itself), the
writer just does not wait for it. The thread works on duplicates of the file descriptors (`os.dup`), so the
writer may close or rotate its files meanwhile; fsync of a duplicate flushes the same file (POSIX fsync and
Windows FlushFileBuffers act on the file, not the descriptor). A failed fsync is handed back to its file,
which raises it on its next write or flush: disk trouble still fails closed in the writer's thread.

What goes into a job, and in which order, is decided by the process's write order
(minibot/journal/ordering.py): a group commit takes every file the process owes an fsync, causes first.
`always` writes and the explicit flushes stay inline there.

A role's round writes several group files (its input log, its outputs, the acks of its inputs). Inside
`held()` (a core role's round) no group commit starts: the write order is asked to commit when the block ends
(`on_release`), one job and one wake-up of this thread per round (issue 14, idle cost).
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
    """Runs jobs of fsyncs on a daemon thread, one job after the other, each in its own order."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None
        self._holder = 0  # the thread inside `held()`: other threads' commits are not held back
        self._hold_lock = threading.Lock()
        self._on_release: list[Callable[[], None]] = []

    def run(self, entries: list[tuple[int, Done]]) -> None:
        """Fsync the files open as the given descriptors soon, in this order, as one job; each `done(error or
        None)` is called from the flusher thread after its fsync."""
        self._hand_over([(os.dup(fd), done) for fd, done in entries])

    def on_release(self, hook: Callable[[], None]) -> None:
        """Call `hook` when a `held()` block ends (the write order commits what fell due inside it)."""
        self._on_release.append(hook)

    def holding(self) -> bool:
        """Whether the calling thread is inside `held()`: its group commits wait for the block's end."""
        return self._holder == threading.get_ident()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the group commits of the block back to its end, then let them start as one job (even after
        an exception: what was written is fsynced all the same). One thread at a time: an inner block, or one
        in another thread while a block is open, commits as outside."""
        with self._hold_lock:
            outer = self._holder == 0
            if outer:
                self._holder = threading.get_ident()
        if not outer:
            yield
            return
        try:
            yield
        finally:
            with self._hold_lock:
                self._holder = 0
            for hook in self._on_release:
                hook()

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
"""The process's flusher (its thread starts with the first group commit)."""
