"""Where each line of a journal is and which event id it carries, in typed columns, for offline verification.

`nore verify` checks every line of a night: each id at most once per journal, and each consumer's ack
against the line it names. Kept as a dict of tuples and id strings that cost ~400 bytes a line (a 2-million
line backtest: 860 MB, tens of millions of lines on a 200-symbol night); here 28 bytes, and duplicates are
found by one sort at the end instead of a lookup per line.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from array import array

import numpy as np

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
    """Per journal line, in order: segment, end offset, id (two 64-bit halves): 28 bytes a line.

    A line's start offset and 1-based number in its segment are not columns: lines are read one after the
    other, so each starts where the one before it in the segment ended (at 0 first) and is numbered one
    more (1 first). The few that do not are kept apart, so `start_of` and `line_of` give what `add` was
    told whatever the caller did.
    """

    __slots__ = ("_invalid", "_last", "_lines", "_runs", "_starts", "end", "hi", "lo", "segment", "valid")

    def __init__(self) -> None:
        self.segment = array("I")
        self.end, self.hi, self.lo = array("Q"), array("Q"), array("Q")
        self.valid = 0
        # Lines that did not decode (no position, no id), in order: 8 bytes each, not a set's ~60, as a damaged
        # journal can have millions.
        self._invalid = array("Q")
        self._starts: dict[int, int] = {}  # index -> start, where it is not the previous line's end
        self._lines: dict[int, int] = {}  # index -> line number, where it does not follow the previous one
        self._last = (-1, 0, 0)  # (segment, line, end) of the line added last
        self._runs: tuple[np.ndarray, list[int]] | None = None  # `line_of`'s lookups, built after the adds

    def add(self, segment: int, line: int, start: int, end: int, event_id: str | None) -> None:
        """The next line; `event_id` None when it did not decode (it keeps its index, nothing else)."""
        index = len(self.segment)
        last_segment, last_line, last_end = self._last
        same = segment == last_segment
        if start != (last_end if same else 0):
            self._starts[index] = start
        if line != (last_line + 1 if same else 1):
            self._lines[index] = line
        self._last = (segment, line, end)
        self._runs = None
        value = 0
        if event_id is None:
            self._invalid.append(index)
        else:
            value = id_value(event_id)
            self.valid += 1
        self.segment.append(segment)
        self.end.append(end)
        self.hi.append(value >> 64)
        self.lo.append(value & _LOW)

    def __len__(self) -> int:
        return len(self.segment)

    def start_of(self, index: int) -> int:
        """Byte offset in its segment at which line `index` starts."""
        start = self._starts.get(index)
        if start is not None:
            return start
        return self.end[index - 1] if index > 0 and self.segment[index - 1] == self.segment[index] else 0

    def line_of(self, index: int) -> int:
        """1-based number of line `index` in its segment."""
        if self._runs is None:
            seg = np.frombuffer(self.segment, dtype=np.uint32)
            self._runs = (np.flatnonzero(seg[1:] != seg[:-1]) + 1, sorted(self._lines))
        runs, explicit = self._runs
        at = int(np.searchsorted(runs, index, side="right"))
        first = int(runs[at - 1]) if at else 0  # the first line of its segment's run of lines
        given = bisect.bisect_right(explicit, index)
        if given and explicit[given - 1] >= first:
            base = explicit[given - 1]
            return self._lines[base] + index - base
        return 1 + index - first

    def position(self, index: int) -> tuple[int, int, int] | None:
        """(segment, end offset, 128-bit id) of line `index`; None when there is no such line or it did not
        decode."""
        if not 0 <= index < len(self.segment) or self._did_not_decode(index):
            return None
        return self.segment[index], self.end[index], (self.hi[index] << 64) | self.lo[index]

    def _did_not_decode(self, index: int) -> bool:
        at = bisect.bisect_left(self._invalid, index)
        return at < len(self._invalid) and self._invalid[at] == index

    def duplicates(self) -> list[tuple[int, int]]:
        """(line index, index of the previous line with the same id) for every line repeating an id, in line
        order."""
        if self.valid < 2:
            return []
        hi, lo = np.frombuffer(self.hi, dtype=np.uint64), np.frombuffer(self.lo, dtype=np.uint64)
        if not self._invalid:
            return repeats(hi, lo)  # every line decoded (the rule): no copies of the columns
        keep = np.ones(len(hi), dtype=bool)
        keep[np.frombuffer(self._invalid, dtype=np.uint64)] = False
        rows = np.flatnonzero(keep)
        return [(int(rows[a]), int(rows[b])) for a, b in repeats(hi[rows], lo[rows])]
