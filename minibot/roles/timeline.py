"""The market timeline: where every core output sits on it, and how far each core role has got along it.

Market sequence (`mseq`): a market tick's position in the run's market_ticks journal (its line number,
counting from 0 across segments). Every core output carries, in its payload, the `mseq` of the tick that
caused it (directly, or through the signal / intent / fill it answers), and its envelope `ts` is the market
time at that tick: the largest tick `ts` up to and including it (`MarketClock`). Neither ever comes from the
wall clock, so the outputs are a function of the ticks.

Watermarks: a core role acks its market_ticks consumer through line M only after it has published every
output of mseq <= M, so the last `ack` line in its acks journal on market_ticks says "done through M".
Another role reads it (`Watermark`) before it polls the queues that role writes: whatever that role
published for mseq <= M is then on disk. docs/architecture.md, "The market timeline".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import orjson

from minibot.contracts.core import Output
from minibot.contracts.envelope import build_envelope
from minibot.ids import deterministic_id
from minibot.journal.layout import QueuePaths
from minibot.journal.segments import SegmentNames

MARKET = "market_ticks"
MSEQ = "mseq"


class MarketClock:
    """Market time: the largest tick `ts` seen so far (ticks are stamped in publication order, so this only
    guards against a clock step backwards between two market_role processes)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0

    def on_tick(self, ts: int) -> int:
        """Advance on a tick; returns the market time at it."""
        if ts > self.now:
            self.now = ts
        return self.now


def wrap_outputs(
    run_id: str,
    cmdline_hash: str,
    role: str,
    outputs: list[Output],
    cause_id: str,
    mseq: int,
    ts: int,
) -> list[dict[str, Any]]:
    """Core outputs as events: id derived from (run, role, input id, index), `ts` the market time of `mseq`,
    payload + `mseq`. The one place a core output becomes an event (role processes, restart recovery, both
    replays and the in-process chain all come here), so they agree byte for byte."""
    return [
        build_envelope(
            type_=out.type,
            payload={**out.payload, MSEQ: mseq},
            ts=ts,
            id_=deterministic_id(run_id, role, cause_id, str(i)),
            source=role,
            run_id=run_id,
            cmdline_hash=cmdline_hash,
        )
        for i, out in enumerate(outputs)
    ]


def event_mseq(queue: str, line: int, event: Mapping[str, Any], current: int) -> int:
    """The market sequence an input belongs to: a tick's own line, a core output's `mseq`, else (an AI
    recommendation, which is not on the timeline) the role's current position."""
    if queue == MARKET:
        return line
    value = event["payload"].get(MSEQ)
    return value if isinstance(value, int) else current


class Watermark:
    """How far another core role has got on the market timeline: the last line of market_ticks it acked
    (-1 before its first ack). Reads only the tail of its acks journal, and only when the file grew.

    Read before every poll of a timeline role, so it costs one fstat while nothing changed (issue 14, idle
    cost): the newest acks segment is held open (unbuffered: a seek and a read when it grew, no open and
    close per read) and the next one is looked for only when the current one did not grow since it was last
    read (its writer starts segment k+1 only after k is final: minibot/journal/segments.py), so a rotation
    is followed one read late at most. `close()` releases the file (Windows cannot delete an open one)."""

    def __init__(self, market: QueuePaths, role: str) -> None:
        self.folder = market.folder
        self.stem = market.acks_stem(role)
        self.role = role
        self.line = -1
        self._seen: tuple[int, int] = (-1, -1)
        self._index = 0
        self._name = SegmentNames(self.folder, self.stem)
        self._fh: Any = None  # segment `_fh_index` of the acks journal, open for reading
        self._fh_index = -1

    def _file(self) -> Any:
        """The open segment `_index` (None while it does not exist yet)."""
        if self._fh_index != self._index:
            self.close()
            try:
                self._fh = open(self._name(self._index), "rb", buffering=0)  # noqa: SIM115 - held, see close()
            except FileNotFoundError:
                return None
            self._fh_index = self._index
        return self._fh

    def _size(self) -> int | None:
        """Size of the newest acks segment (moving on to later ones once this one is final); None: none yet."""
        while True:
            fh = self._file()
            if fh is None:
                return None
            size = os.fstat(fh.fileno()).st_size
            grown = self._seen[0] == self._index and self._seen[1] != size
            if grown or not os.path.exists(self._name(self._index + 1)):
                return size
            self._index += 1

    def read(self) -> int:
        """The current watermark (never decreases)."""
        size = self._size()
        if size is None or (self._index, size) == self._seen:
            return self.line
        start = max(0, size - 4096)
        self._fh.seek(start)
        tail = self._fh.read(size - start)
        lines = tail.split(b"\n")
        for raw in reversed(lines[:-1]):  # the last piece is empty or a line still being written
            if raw.startswith(b"sha256:"):
                last = int(orjson.loads(raw[72:])["payload"]["last_line"])
                if last > self.line:
                    self.line = last
                self._seen = (self._index, size)
                break
        return self.line

    def close(self) -> None:
        """Release the open acks segment (read again, reopened, on the next `read()`)."""
        if self._fh is not None:
            self._fh.close()
        self._fh, self._fh_index = None, -1
