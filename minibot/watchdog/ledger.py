"""What the watchdog has verified of a queue file, so it can re-check it later without its hash chain.

A `Ledger` keeps the sha256 of every block of a file's verified prefix (BLOCK bytes each, the last one
partial and still growing), fed with exactly the bytes that passed the chain (chaincheck.SegmentCheck's
sinks). Re-checking a block is one read and one hash, no checkpoint walk and no sidecar read.

A file's stat `Fingerprint` stands in for re-reading a file that no longer changes (a sealed segment and its
sidecar): any write, truncation, replacement or rename through the file system changes it. On Windows
st_ctime is the creation time, not the change time, so it is left out there (`fingerprint(platform=)`); a
tool that writes and then restores the modification time is then found only by the slow pass (scrub.py).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = 1 << 20
RACY_NS = 2_000_000_000
"""A stat whose times are this close to the wall clock may not show a write made just after it (timestamps
tick coarsely: jiffies on Linux, 2 s on FAT, lazily on NTFS): such a fingerprint is not trusted yet."""

Fingerprint = tuple[int, int, int, int, int]


def fingerprint(st: os.stat_result, platform: str = sys.platform) -> Fingerprint:
    """(size, mtime, inode, device, change time) of a stat; the change time is 0 on Windows (see module)."""
    ctime = 0 if platform == "win32" else st.st_ctime_ns
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, ctime


def racy(st: os.stat_result, now_ns: int) -> bool:
    """The file was changed too recently for its fingerprint to show the next change (RACY_NS)."""
    return max(st.st_mtime_ns, st.st_ctime_ns) > now_ns - RACY_NS


@dataclass
class Ledger:
    """sha256 of each BLOCK of a file's verified prefix; the last block may be partial and still grow."""

    blocks: list[bytes] = field(default_factory=list)
    _tail: hashlib._Hash = field(default_factory=hashlib.sha256)
    _tail_len: int = 0

    @property
    def length(self) -> int:
        """Bytes verified so far."""
        return len(self.blocks) * BLOCK + self._tail_len

    def count(self) -> int:
        """Blocks to re-check, the partial last one included."""
        return len(self.blocks) + (1 if self._tail_len else 0)

    def extend(self, data: memoryview) -> None:
        """Append bytes that were just verified (in file order)."""
        while data:
            take = min(len(data), BLOCK - self._tail_len)
            self._tail.update(data[:take])
            self._tail_len += take
            data = data[take:]
            if self._tail_len == BLOCK:
                self.blocks.append(self._tail.digest())
                self._tail, self._tail_len = hashlib.sha256(), 0

    def expected(self, block: int) -> tuple[int, bytes]:
        """(length, sha256) block `block` must have."""
        if block < len(self.blocks):
            return BLOCK, self.blocks[block]
        return self._tail_len, self._tail.digest()


@dataclass
class Mismatch:
    """A file no longer holds what was verified: from byte `offset` on (`size` is its size when read)."""

    offset: int
    size: int


def recheck(path: Path, ledger: Ledger, first: int, stop: int, budget: int) -> tuple[int, int, Mismatch | None]:
    """Re-hash blocks `first`..`stop` (exclusive; at most the ledger's) of `path` against `ledger` until `budget`
    bytes were read; returns (bytes read, next block, the first mismatch). A missing file mismatches at 0."""
    used, block, count = 0, first, min(stop, ledger.count())
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return 0, first, Mismatch(0, 0)
    with fh:
        while block < count and used < budget:
            length, digest = ledger.expected(block)
            fh.seek(block * BLOCK)
            data = fh.read(length)
            used += len(data)
            if len(data) < length or hashlib.sha256(data).digest() != digest:
                return used, block, Mismatch(block * BLOCK, os.fstat(fh.fileno()).st_size)
            block += 1
    return used, block, None


@dataclass
class WatchedFile:
    """One file of a queue (an inbox segment or its sidecar), what was verified of it, and its fingerprint
    once it no longer changes (`trusted`). `candidate` is a fingerprint taken at the start of a re-check
    that becomes trusted when that re-check ends with the file unchanged."""

    queue: str
    index: int
    path: Path
    sidecar: bool
    ledger: Ledger = field(default_factory=Ledger)
    sealed: bool = False
    trusted: Fingerprint | None = None
    candidate: Fingerprint | None = None
