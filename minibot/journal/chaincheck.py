"""Re-verifying a queue against its hash chain (chain.py), incrementally: used whole by `nore journal verify`
and `nore verify`, and by the watchdog during the run (watchdog/scrub.py), which keeps one `SegmentCheck` per
segment and steps it again as checkpoints are added, so each published byte is chained once.

A `SegmentCheck` reads a segment from its first checkpoint to the last whole one and recomputes the chain;
stepped again later, it continues from where it stopped. With sinks, it hands the bytes it verified (segment
and sidecar) to the caller: the watchdog keeps their digests to re-check them later without the chain.
"""

from __future__ import annotations

import hashlib
import os
from binascii import hexlify
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minibot.journal.chain import (
    CHAIN_SUFFIX,
    ChainFault,
    ChainMismatch,
    Checkpoint,
    chain_path,
    covered,
    iter_checkpoint_rows,
    locate,
    start_of_segment,
    truncated,
)
from minibot.journal.segments import list_segments, segment_path
from minibot.reasons import NoreError

_CHUNK = 1 << 20
Sink = Callable[[memoryview], None]


@dataclass
class SegmentCheck:
    """One pass over one segment; `step` verifies checkpoints until a byte budget is spent.

    `sink` receives the segment's bytes as they are verified (in order, each once), `side_sink` the sidecar's
    verified checkpoint lines; `checkpoints` counts the checkpoints walked."""

    folder: Path
    stem: str
    index: int
    done: bool = False
    verified: Checkpoint | None = None
    sink: Sink | None = None
    side_sink: Sink | None = None
    checkpoints: int = 0
    _side_offset: int = 0

    @property
    def segment(self) -> Path:
        """The segment file."""
        return segment_path(self.folder, self.stem, self.index)

    def step(self, budget: int) -> tuple[int, ChainFault | None]:
        """Verify whole checkpoints until about `budget` bytes were hashed (at least one checkpoint);
        returns (bytes read, the first fault). `done` once the last whole checkpoint is verified."""
        segment, sidecar = self.segment, chain_path(self.segment)
        try:
            if self.verified is None:
                self.verified = start_of_segment(self.folder, self.stem, self.index)
            if not sidecar.exists():
                self.done = True
                if segment.exists() and segment.stat().st_size > 0:
                    return 0, ChainFault(segment, 1, 0, ChainMismatch(f"{sidecar.name} is missing"))
                return 0, None
            if not segment.exists():
                self.done = True
                last = covered(self.folder, self.stem, self.index)
                return 0, truncated(segment, 0, last) if last.end > 0 else None
            return self._hash(segment, sidecar, budget)
        except NoreError as exc:
            self.done = True
            return 0, ChainFault(sidecar, 0, self._side_offset, exc)

    def _hash(self, segment: Path, sidecar: Path, budget: int) -> tuple[int, ChainFault | None]:
        # Plain locals per checkpoint, the verified one recorded once on the way out: the initial pass of a
        # long night walks every checkpoint (one per published batch) once (issue 14, idle cost).
        at = self.verified
        assert at is not None
        lines_at, end_at, chain_at, side_at = at.lines, at.end, bytes.fromhex(at.chain), self._side_offset
        used = walked = 0
        buf, view, buf_at = b"", memoryview(b""), end_at
        fed, sink = end_at, self.sink  # bytes up to `fed` were handed to the sink
        rows: list[bytes] | None = [] if self.side_sink is not None else None
        try:
            with segment.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                for side_end, lines, end, chain_hex in iter_checkpoint_rows(sidecar, side_at):
                    walked += 1
                    if end <= end_at or lines <= lines_at:
                        self.done = True
                        error = ChainMismatch(f"checkpoint {lines} {end} does not advance from {lines_at} {end_at}")
                        return used, ChainFault(sidecar, 0, side_at, error)
                    if end > size:  # the checkpoint may be newer than the size read before it
                        size = os.fstat(fh.fileno()).st_size
                        if end > size:
                            self.done = True
                            return used, truncated(segment, size, Checkpoint(lines, end, chain_hex.decode("ascii")))
                    if end > buf_at + len(buf):
                        if sink is not None and end_at > fed:
                            sink(view[fed - buf_at : end_at - buf_at])
                            fed = end_at
                        # One read for many checkpoints (one per published batch, usually a few hundred bytes).
                        fh.seek(end_at)
                        buf, buf_at = fh.read(max(end - end_at, min(_CHUNK, size - end_at))), end_at
                        view = memoryview(buf)
                        if buf_at + len(buf) < end:  # shorter than fstat said a moment ago: cut under us
                            self.done = True
                            cut = Checkpoint(lines, end, chain_hex.decode("ascii"))
                            return used, truncated(segment, buf_at + len(buf), cut)
                    begin, stop = end_at - buf_at, end - buf_at
                    digest = hashlib.sha256(chain_at)
                    digest.update(view[begin:stop])
                    chain = digest.digest()
                    used += end - end_at
                    if hexlify(chain) != chain_hex or buf.count(b"\n", begin, stop) != lines - lines_at:
                        self.done = True
                        return used, locate(segment, end_at, end, lines_at)
                    if rows is not None:
                        rows.append(b"%d %d %s\n" % (lines, end, chain_hex))
                    lines_at, end_at, chain_at, side_at = lines, end, chain, side_end
                    if used >= budget:
                        return used, None
            self.done = True
            return used, None
        finally:
            self.checkpoints += walked
            if sink is not None and end_at > fed:
                sink(view[fed - buf_at : end_at - buf_at])
            if rows:
                self._feed_side(sidecar, b"".join(rows), side_at)
            if (lines_at, end_at) != (at.lines, at.end):
                self.verified = Checkpoint(lines_at, end_at, chain_at.hex())
            self._side_offset = side_at

    def _feed_side(self, sidecar: Path, encoded: bytes, side_at: int) -> None:
        """Hand the sidecar bytes of the checkpoints just verified to `side_sink`. Producers write each line
        in its one canonical form, which is then exactly `encoded` (a longer line is a number with leading
        zeros); only a sidecar written otherwise is read again for its own bytes."""
        assert self.side_sink is not None
        start = side_at - len(encoded)
        if start != self._side_offset:
            with sidecar.open("rb") as fh:
                fh.seek(self._side_offset)
                encoded = fh.read(side_at - self._side_offset)
        self.side_sink(memoryview(encoded))

    def uncovered(self) -> int:
        """Bytes of the segment after its last verified checkpoint."""
        at = self.verified.end if self.verified is not None else 0
        segment = self.segment
        return max(0, segment.stat().st_size - at) if segment.exists() else 0


def segment_indexes(folder: Path, stem: str) -> list[int]:
    """Indexes of a journal's segments and of their sidecars."""
    return sorted(
        {i for i, _ in list_segments(folder, stem)} | {i for i, _ in list_segments(folder, stem, CHAIN_SUFFIX)}
    )


def closed_tail(check: SegmentCheck) -> ChainFault | None:
    """A segment that a newer one follows must be chained to its last byte (producers chain before rotating)."""
    tail = check.uncovered()
    if not tail:
        return None
    segment = check.segment
    error = ChainMismatch(f"the last {tail} bytes of a closed segment are not chained")
    return ChainFault(segment, 0, segment.stat().st_size - tail, error)


def verify_chain(folder: Path, stem: str = "inbox") -> list[ChainFault]:
    """One whole pass over a journal's chain: every segment's first fault."""
    indexes = segment_indexes(folder, stem)
    faults = []
    for pos, index in enumerate(indexes):
        check = SegmentCheck(folder, stem, index)
        fault = None
        while not check.done and fault is None:
            _, fault = check.step(1 << 62)
        if fault is None and pos < len(indexes) - 1:
            fault = closed_tail(check)
        if fault is not None:
            faults.append(fault)
    return faults
