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
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable

Done = Callable[[OSError | None], None]


class Flusher:
    """Runs fsyncs on a daemon thread, in the order they were asked for."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[int, Done]] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, fd: int, done: Done) -> None:
        """Fsync the file open as `fd` soon; `done(error or None)` is called from the flusher thread after."""
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="nore-fsync", daemon=True)
                    self._thread.start()
        self._jobs.put((os.dup(fd), done))

    def _run(self) -> None:
        while True:
            fd, done = self._jobs.get()
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
