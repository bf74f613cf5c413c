"""The window of event ids a consumer has already seen (effectively-once, second line of defence).

Exact: `SeenWindow(n)` answers like a plain set of the last `n` ids added, with no false positive (a false
positive would silently drop a real event). Compact: every envelope id is a UUID (the envelope schema
checks it before an id gets here), kept as one 128-bit int rather than a 36-character str in an
OrderedDict: ~84 bytes an id instead of ~160 (65,536 ids: ~5.5 MB instead of ~10.6 MB, tracemalloc).

How many (`window_for`: eight read batches, at least 8,192 ids, ~0.7 MB): our producers never write a
duplicate; the one way they could is a restarted role re-publishing outputs it had already written, and
those are outputs of the inputs after its last ack, at most one read batch (`queues.batch_max_events`,
default 1,000). Eight batches cover that with room to spare; the former 65,536 ids cost ~5.5 MB per
consumer (a role reading four queues filled ~22 MB over the first hours of a night: issue 14, item 4) and
protected nothing more.
`nore journal verify` still reports any duplicate anywhere in a queue as `DUPLICATE_ID`.

A restarted consumer seeds its window from the ids of the lines just before its cursor (`seed_from_queue`),
so a duplicate that a restarted producer writes after the consumer's own restart is still dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

import orjson

from minibot.contracts.codec import split_line
from minibot.journal.segments import list_segments, segment_path

_CHUNK = 1 << 20
MIN_WINDOW = 8192
BATCHES_IN_WINDOW = 8


def window_for(batch_max: int) -> int:
    """The id window of a consumer that reads at most `batch_max` lines a poll."""
    return max(MIN_WINDOW, BATCHES_IN_WINDOW * batch_max)


def id_key(event_id: str) -> int:
    """The 128 bits of a UUID-format id as one int (exact: distinct ids give distinct keys)."""
    return int(event_id.replace("-", ""), 16)


class SeenWindow:
    """The last `capacity` ids added, with set membership (oldest forgotten first)."""

    __slots__ = ("_capacity", "_keys", "_order")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"an id window holds at least one id, not {capacity}")
        self._capacity = capacity
        self._order: deque[int] = deque()
        self._keys: set[int] = set()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, event_id: str) -> bool:
        return id_key(event_id) in self._keys

    def add(self, event_id: str) -> bool:
        """Remember `event_id`; False (and nothing changes) when it is already in the window."""
        key = id_key(event_id)
        keys = self._keys
        if key in keys:
            return False
        keys.add(key)
        order = self._order
        order.append(key)
        if len(order) > self._capacity:
            keys.discard(order.popleft())
        return True


def _lines_backwards(path: Path, end: int) -> Iterator[bytes]:
    """Whole lines of `path` before byte `end`, newest first, read 1 MB at a time from the end (a line
    longer than a chunk is carried over until its start is reached)."""
    with path.open("rb") as fh:
        rest = b""
        pos = end
        while pos > 0:
            start = max(0, pos - _CHUNK)
            fh.seek(start)
            buf = fh.read(pos - start) + rest
            pos = start
            first = buf.find(b"\n") + 1 if start > 0 else 0
            if start > 0 and first == 0:
                rest = buf
                continue
            rest = buf[:first]
            yield from reversed(buf[first:].splitlines(keepends=True))


def seed_from_queue(window: SeenWindow, folder: Path, stem: str, segment: int, offset: int, limit: int) -> int:
    """Add the ids of up to `limit` lines that end at or before (segment, offset), oldest first.

    Those lines were consumed (and hash-checked) before; a line that no longer matches its hash is
    corruption and raises JournalCorrupt here too. Returns how many ids were added.
    """
    newest_first: list[str] = []
    for index, path in reversed(list_segments(folder, stem)):
        if index > segment or len(newest_first) >= limit:
            continue
        end = offset if index == segment else path.stat().st_size
        for line in _lines_backwards(segment_path(folder, stem, index), end):
            _, body = split_line(line)
            newest_first.append(orjson.loads(body)["id"])
            if len(newest_first) >= limit:
                break
    for event_id in reversed(newest_first):
        window.add(event_id)
    return len(newest_first)
