"""A power cut, emulated: record what a run writes and fsyncs, then rebuild what survives a cut at any point.

A kill -9 keeps the page cache (bench/chaos.py), a power cut loses everything not fsynced. The recorder wraps
`os.write`, `os.ftruncate`, `os.fsync` and `os.replace` while a test runs the real journal code: each fsync
of a file records the file's bytes at that instant (what the kernel makes durable then: every write before
it, whichever descriptor or thread made it); a rename becomes durable with the fsync of its folder, and only
if the renamed file was fsynced first (minibot/journal/atomic.py does both, or neither under `fsync=False`).
`survivor(k, dest)` writes into `dest` what a cut right after the k-th durable event leaves: the last durable
bytes of every file, nothing of a file never fsynced. Between two fsyncs nothing more becomes durable (in this
model, which leaves out the kernel writing pages back on its own), so the cut points after each event are all
there are.

Linux only: a descriptor's path is read from /proc/self/fd.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest


class Recorder:
    """Records the durable events of everything under `root`, in the order they happen."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._lock = threading.RLock()
        self.events: list[
            tuple[str, str, Any]
        ] = []  # ("sync", rel, bytes) | ("rename", rel_dst, rel_src) | ("dir", rel)

    def _rel(self, path: str | os.PathLike[str]) -> str | None:
        p = Path(os.path.abspath(path))
        return str(p.relative_to(self.root)) if p.is_relative_to(self.root) else None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Wrap the calls (undone by `monkeypatch` at the end of the test)."""
        real_write, real_truncate, real_fsync, real_replace = os.write, os.ftruncate, os.fsync, os.replace
        lock = self._lock

        def write(fd: int, data: Any) -> int:
            with lock:  # a concurrent fsync records the file before or after a write, never inside it
                return real_write(fd, data)

        def ftruncate(fd: int, length: int) -> None:
            with lock:
                real_truncate(fd, length)

        def fsync(fd: Any) -> None:
            fd = fd if isinstance(fd, int) else fd.fileno()
            with lock:
                rel = self._rel(os.readlink(f"/proc/self/fd/{fd}"))
                if rel is not None:
                    if stat.S_ISDIR(os.fstat(fd).st_mode):
                        self.events.append(("dir", rel, None))
                    else:
                        self.events.append(("sync", rel, (self.root / rel).read_bytes()))
            real_fsync(fd)

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            with lock:
                real_replace(src, dst, **kwargs)
                rel_src, rel_dst = self._rel(src), self._rel(dst)
                if rel_src is not None and rel_dst is not None:
                    self.events.append(("rename", rel_dst, rel_src))

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "ftruncate", ftruncate)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)

    def cut_points(self) -> int:
        """How many distinct cuts there are: before the first durable event, and after each."""
        with self._lock:
            return len(self.events) + 1

    def survivor(self, cut: int, dest: Path) -> None:
        """Write into `dest` what a power cut after the first `cut` events leaves on disk."""
        with self._lock:
            events = self.events[:cut]
        durable: dict[str, bytes] = {}
        renamed: dict[str, list[tuple[str, str]]] = {}  # folder -> renames not yet made durable by its fsync
        for kind, rel, arg in events:
            if kind == "sync":
                durable[rel] = arg
            elif kind == "rename":
                renamed.setdefault(str(Path(rel).parent), []).append((rel, arg))
            else:
                for dst, src in renamed.pop(rel, []):
                    if src in durable:
                        durable[dst] = durable.pop(src)
        for rel, data in durable.items():
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
