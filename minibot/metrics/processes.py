"""Resident memory and CPU of role processes (psutil), sampled when metrics are updated."""

from __future__ import annotations

from typing import Any

import psutil

_MB = float(1 << 20)


class ProcessSampler:
    """Keeps one `psutil.Process` per pid so that `cpu_percent` measures the time since the last sample."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, pid: int | None) -> dict[str, Any]:
        """`rss_mb` and `cpu_pct` (percent of one core since the previous sample; 0.0 on the first) of `pid`.

        Both are None, with `process_error` saying why, when the process is gone or not readable.
        """
        if pid is None:
            return {"rss_mb": None, "cpu_pct": None, "process_error": "no pid"}
        try:
            proc = self._procs.get(pid)
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
            with proc.oneshot():
                return {"rss_mb": proc.memory_info().rss / _MB, "cpu_pct": proc.cpu_percent(interval=None)}
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess) as exc:
            self._procs.pop(pid, None)
            return {"rss_mb": None, "cpu_pct": None, "process_error": f"{type(exc).__name__} for pid {pid}"}

    def forget_except(self, pids: set[int]) -> None:
        """Drop cached processes that are no longer roles (restarted or ended)."""
        for pid in set(self._procs) - pids:
            del self._procs[pid]
