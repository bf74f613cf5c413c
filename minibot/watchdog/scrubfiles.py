"""One queue as the watchdog's scrub sees it (scrub.py): its new bytes chained once, its files' ledgers, the
stat fingerprints of its sealed segments, and a precise finding when something no longer matches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from minibot.journal.chain import ChainFault, chain_path
from minibot.journal.chaincheck import SegmentCheck, closed_tail, segment_indexes
from minibot.journal.layout import INBOX
from minibot.journal.segments import segment_path
from minibot.reasons import NoreError, ReasonCode
from minibot.watchdog.ledger import Mismatch, WatchedFile, recheck

Finding = tuple[ReasonCode, str]


class QueueFiles:
    """The segments of one queue's inbox: `verify_new` chains what was published since the last call (each
    byte once, continuing the chain where it stopped) and records it in the files' ledgers; a segment that
    a newer one follows is sealed (producers never write it again)."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self.files: dict[int, tuple[WatchedFile, WatchedFile]] = {}
        self.checkpoints = 0
        self.behind = False  # the last `verify_new` stopped at its budget, not at the last checkpoint
        self._check: SegmentCheck | None = None

    def indexes(self) -> list[int]:
        """Segment indexes on disk (segments and sidecars)."""
        return segment_indexes(self.folder, INBOX)

    def watched(self) -> Iterator[WatchedFile]:
        """Every file verified so far, segments before their sidecars, oldest segment first."""
        for segment, sidecar in self.files.values():
            yield segment
            yield sidecar

    def verify_new(self, indexes: list[int], budget: int) -> tuple[int, ChainFault | None]:
        """Chain about `budget` bytes published since the last call (oldest unsealed segment first);
        returns (bytes read, the first fault). `indexes` is a listing taken before this call."""
        used, self.behind = 0, True
        while used < budget:
            check = self._check or self._next(indexes)
            if check is None:
                self.behind = False
                return used, None
            walked = check.checkpoints
            n, fault = check.step(budget - used)
            used += n
            self.checkpoints += check.checkpoints - walked
            if fault is not None:
                return used, fault
            if not check.done:
                return used, None
            if not any(i > check.index for i in indexes):
                self.behind = False
                return used, None  # the newest segment: the rest is verified as it is published
            fault = closed_tail(check)  # a newer segment exists, so this one was chained to its end first
            if fault is not None:
                return used, fault
            for file in self.files[check.index]:
                file.sealed = True
            self._check = None
        return used, None

    def _next(self, indexes: list[int]) -> SegmentCheck | None:
        """The check of the first segment not verified yet, its files' ledgers as sinks."""
        later = [i for i in indexes if i not in self.files and (not self.files or i > max(self.files))]
        if not later:
            return None
        index = later[0]
        path = segment_path(self.folder, INBOX, index)
        segment = WatchedFile(self.name, index, path, sidecar=False)
        sidecar = WatchedFile(self.name, index, chain_path(path), sidecar=True)
        self.files[index] = segment, sidecar
        self._check = SegmentCheck(
            self.folder, INBOX, index, sink=segment.ledger.extend, side_sink=sidecar.ledger.extend
        )
        return self._check


def recheck_whole(file: WatchedFile) -> tuple[int, Mismatch | None]:
    """Re-hash all of a file against its ledger at once (its fingerprint changed); (bytes read, mismatch)."""
    used, _, mismatch = recheck(file.path, file.ledger, 0, file.ledger.count(), file.ledger.length + 1)
    return used, mismatch


def diagnose(queue: QueueFiles, file: WatchedFile, mismatch: Mismatch) -> Finding:
    """The finding for a file that no longer holds what was verified: its segment's chain recomputed from the
    start names the line and its code (a line's own hash, the chain, a truncation); if the chain still holds
    (segment and sidecar rewritten together), the bytes that changed since they were verified."""
    check = SegmentCheck(queue.folder, INBOX, file.index)
    fault: ChainFault | None = None
    try:
        while not check.done and fault is None:
            _, fault = check.step(1 << 62)
        if fault is None and file.sealed:
            fault = closed_tail(check)
    except (NoreError, OSError) as exc:
        return read_error(queue.name, exc)
    if fault is not None:
        return fault.error.reason_code, f"watchdog re-verifying {queue.name}/{fault}"
    what = "checkpoints" if file.sidecar else "bytes"
    if mismatch.size < file.ledger.length:
        change = f"is {mismatch.size} bytes but {file.ledger.length} were verified"
    else:
        change = f"{what} from byte {mismatch.offset} changed after the watchdog verified them"
    return ReasonCode.CHAIN_MISMATCH, f"watchdog re-verifying {queue.name}/{file.path.name}: {change}"


def read_error(name: str, exc: Exception) -> Finding:
    """A queue that cannot be read is a finding too (fail closed)."""
    if isinstance(exc, NoreError):
        return exc.reason_code, f"{name}: {exc.detail}"
    return ReasonCode.CURSOR_DESYNC, f"{name}: cannot read the queue ({exc})"


def stat_or_none(path: Path) -> os.stat_result | None:
    """The file's stat, None if it is gone."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None
