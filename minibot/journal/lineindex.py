"""Where each line of a journal is and which event id it carries, in typed columns, for offline verification.

`nore verify` checks every line of a night: each id at most once per journal, and each consumer's ack
against the line it names. Kept as a dict of tuples and id strings that cost ~400 bytes a line (a 2-million
line backtest: 860 MB, tens of millions of lines on a 200-symbol night); here 40 bytes, and duplicates are
found by one sort at the end instead of a lookup per line.
"""

from __future__ import annotations

import hashlib
import re
from array import array

import numpy as np

_NONE = 0xFFFFFFFF  # segment of a line that did not decode: no position, no id
_LOW = (1 << 64) - 1
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def uuid_value(event_id: str) -> int | None:
    """The 128 bits of an id in the envelope's format (a lowercase UUID); None for anything else."""
    return int(event_id.replace("-", ""), 16) if _UUID.match(event_id) else None


def id_value(event_id: str) -> int:
    """An event id as 128 bits: the UUID's own for the envelope's id format, else a 128-bit digest of it."""
    value = uuid_value(event_id)
    if value is not None:
        return value
    return int.from_bytes(hashlib.blake2b(event_id.encode("utf-8", "replace"), digest_size=16).digest(), "big")


def repeats(hi: np.ndarray, lo: np.ndarray) -> list[tuple[int, int]]:
    """(index, index of the previous equal value) for every repeated 128-bit value given as two uint64
    halves, in index order: one sort instead of a set of Python ints.

    Memory is what bounds `nore verify` on a long night (tens of millions of lines): besides the two halves,
    this takes 8 bytes a line for the order and one sorted half at a time (8), not an index column and two
    sorted copies of each half (issue 14, scale)."""
    if len(hi) < 2:
        return []
    order = np.lexsort((lo, hi))  # by value; a stable sort, so equal values stay in index order
    ordered = hi[order]
    same = ordered[1:] == ordered[:-1]
    del ordered  # before the other half is gathered: one sorted half alive at a time
    ordered = lo[order]
    same &= ordered[1:] == ordered[:-1]
    del ordered
    at = np.nonzero(same)[0]
    return sorted(zip(order[at + 1].tolist(), order[at].tolist(), strict=True))


class LineIndex:
    """Per journal line, in order: segment, 1-based line in it, byte range, id (two 64-bit halves)."""

    __slots__ = ("end", "hi", "line", "lo", "segment", "start", "valid")

    def __init__(self) -> None:
        self.segment, self.line = array("I"), array("I")
        self.start, self.end = array("Q"), array("Q")
        self.hi, self.lo = array("Q"), array("Q")
        self.valid = 0

    def add(self, segment: int, line: int, start: int, end: int, event_id: str | None) -> None:
        """The next line; `event_id` None when it did not decode (it keeps its index, nothing else)."""
        value = 0
        if event_id is None:
            segment = _NONE
        else:
            value = id_value(event_id)
            self.valid += 1
        self.segment.append(segment)
        self.line.append(line)
        self.start.append(start)
        self.end.append(end)
        self.hi.append(value >> 64)
        self.lo.append(value & _LOW)

    def __len__(self) -> int:
        return len(self.segment)

    def position(self, index: int) -> tuple[int, int, int] | None:
        """(segment, end offset, 128-bit id) of line `index`; None when there is no such line or it did not
        decode."""
        if not 0 <= index < len(self.segment) or self.segment[index] == _NONE:
            return None
        return self.segment[index], self.end[index], (self.hi[index] << 64) | self.lo[index]

    def duplicates(self) -> list[tuple[int, int]]:
        """(line index, index of the previous line with the same id) for every line repeating an id, in line
        order."""
        if self.valid < 2:
            return []
        hi, lo = np.frombuffer(self.hi, dtype=np.uint64), np.frombuffer(self.lo, dtype=np.uint64)
        if self.valid == len(self.segment):
            return repeats(hi, lo)  # every line decoded (the rule): no copies of the columns
        rows = np.nonzero(np.frombuffer(self.segment, dtype=np.uint32) != _NONE)[0]
        return [(int(rows[a]), int(rows[b])) for a, b in repeats(hi[rows], lo[rows])]
