"""Opt-in memory growth tracing of a NORE process (tracemalloc), for the memory benchmark.

Off unless `NORE_TRACEMALLOC_DIR` names a folder. Then the process traces its allocations (10 frames) and,
every `NORE_TRACEMALLOC_S` seconds (default 300), rewrites `<dir>/<name>-<pid>.txt`: the allocations that
grew most by traceback (newest frame first) since the first snapshot (taken one interval after start, so
imports and start-up caches are the baseline, not growth). Tracing slows a process and costs memory:
never on in a real night.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from pathlib import Path

DIR_ENV = "NORE_TRACEMALLOC_DIR"
INTERVAL_ENV = "NORE_TRACEMALLOC_S"
FRAMES = 10
TOP = 15


def growth_report(first: tracemalloc.Snapshot, now: tracemalloc.Snapshot, top: int = TOP) -> str:
    """The `top` tracebacks whose allocated size grew most from `first` to `now`, as text."""
    stats = now.compare_to(first, "traceback")
    total = sum(s.size_diff for s in stats)
    lines = [f"total growth {total / 1e6:+.2f} MB over {len(stats)} tracebacks"]
    for stat in stats[:top]:
        lines.append(f"{stat.size_diff / 1e6:+.3f} MB ({stat.count_diff:+d} blocks), now {stat.size / 1e6:.3f} MB")
        lines.extend("    " + line for line in stat.traceback.format(limit=FRAMES, most_recent_first=True))
    return "\n".join(lines) + "\n"


class MemTrace:
    """The tracing thread of one process; `stop()` writes a last report."""

    def __init__(self, name: str, folder: Path, interval_s: float) -> None:
        self.path = folder / f"{name}-{os.getpid()}.txt"
        self.interval_s = interval_s
        self._first: tracemalloc.Snapshot | None = None
        self._stop = threading.Event()
        folder.mkdir(parents=True, exist_ok=True)
        tracemalloc.start(FRAMES)
        self._thread = threading.Thread(target=self._loop, name="memtrace", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.write()

    def write(self) -> None:
        """Take a snapshot; the first one is the baseline, later ones rewrite the report."""
        # Without this process's own tracing (the report being built is not the process's growth).
        own = [tracemalloc.Filter(False, path, all_frames=True) for path in (tracemalloc.__file__, __file__)]
        snapshot = tracemalloc.take_snapshot().filter_traces(own)
        if self._first is None:
            self._first = snapshot
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(growth_report(self._first, snapshot), encoding="utf-8")
        os.replace(tmp, self.path)  # a reader never sees half a report

    def stop(self) -> None:
        """End the thread and write the final report."""
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5.0)
        self.write()
        tracemalloc.stop()


def start_from_env(name: str) -> MemTrace | None:
    """Start tracing when NORE_TRACEMALLOC_DIR is set (a bad NORE_TRACEMALLOC_S is a clear ValueError)."""
    folder = os.environ.get(DIR_ENV)
    if not folder:
        return None
    raw = os.environ.get(INTERVAL_ENV, "300")
    interval = float(raw)
    if not interval > 0:
        raise ValueError(f"{INTERVAL_ENV} must be a number of seconds > 0, not {raw!r}")
    return MemTrace(name, Path(folder), interval)
