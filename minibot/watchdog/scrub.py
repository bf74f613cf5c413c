"""The watchdog's continuous re-verification of what the queues hold (R-T2, R-T6): damage found during the run.

Consumers verify each line once, when they read it; a byte that changes afterwards, or lines removed,
swapped or cut off behind them, would otherwise only be found by `nore verify` the next morning. Re-reading
every byte against the hash chain (journal/chain.py) in passes made the cost grow with the night (issue 14),
so each periodic `check` (every 5 s of run clock in the supervisor) does four cheap things instead:

1. **New bytes**, chained once: each queue's chain is continued from where the last check stopped
   (chaincheck.SegmentCheck), and the bytes it verified are recorded as sha256 digests of 1 MB blocks
   (ledger.Ledger), segment and sidecar. At most SCRUB_MAX_BYTES_PER_S of wall time (at least
   SCRUB_MIN_BYTES a check): beyond, as when a run starts over queues already written, the backlog is
   caught up over the next checks.
2. **Sealed segments** (a newer segment exists; producers never write them again) and their sidecars: once a
   rolling pass (3) has re-checked them after their stat fingerprint was taken (size, mtime, inode, device,
   change time; no change time on Windows, where st_ctime is the creation time; times at least 2 s old,
   ledger.RACY_NS), they leave the rolling passes; every check compares their fingerprints (two stats per
   segment) and re-checks a changed one whole, at once. So damage made through the file system (a write, a
   truncation, a replacement, a rename, a deletion) is found at the next check.
3. **Everything else verified** (the newest segment of each queue and its sidecar; a sealed segment until it
   is trusted) is re-hashed against its ledger in rolling passes: a pass starts at most every
   `pass_wall_s` (30 s of run clock) and is paced to end within the next `pass_wall_s`, so an in-place edit
   of a byte already verified is found within SCRUB_BOUND_RUN_S = 60 s of run clock. A pass reads at most
   one segment (`queues.segment_max_bytes`) per queue, so its cost no longer grows with the night; it
   shares the SCRUB_MAX_BYTES_PER_S cap with (1), beyond which the bound grows (a fast replay).
4. **A slow pass** re-hashes the trusted files of (2) against their ledgers at SCRUB_SLOW_BYTES_PER_S of wall
   time, whatever the speed: bit rot, or a tool that writes and restores the file's times (on Windows; on
   other systems the change time shows it), is found within (sealed bytes / that rate) of wall time.

A cheap tip check on every call also catches a queue that became shorter than its chain (truncated or
deleted) at once. A mismatch is diagnosed by recomputing that segment's chain (the line and its code); if
the chain still holds (segment and sidecar rewritten together) the finding says which bytes changed after
they were verified. A finding is kept: every later call returns it. Only `nore verify` re-reads everything.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from minibot.journal.chain import covered, truncated
from minibot.journal.layout import INBOX
from minibot.journal.segments import segment_path
from minibot.reasons import NoreError
from minibot.watchdog.ledger import BLOCK, Mismatch, WatchedFile, fingerprint, racy, recheck
from minibot.watchdog.scrubfiles import Finding, QueueFiles, diagnose, read_error, recheck_whole, stat_or_none

SCRUB_BOUND_RUN_S = 60.0
SCRUB_MAX_BYTES_PER_S = 16 << 20
SCRUB_MIN_BYTES = 1 << 20
SCRUB_SLOW_BYTES_PER_S = 1 << 20
_MAX_GAP_S = 5.0  # a check after a long stall does not catch up more than this much reading


class Sweep:
    """One pass re-hashing files against their ledgers, up to each file's verified length when it began."""

    def __init__(self, files: list[WatchedFile]) -> None:
        self.files = files
        self.stops = [-(-f.ledger.length // BLOCK) for f in files]
        self.total = sum(f.ledger.length for f in files)
        self.read = 0
        self._at = 0
        self._block = 0

    @property
    def finished(self) -> bool:
        """Every file was re-checked."""
        return self._at >= len(self.files)

    def step(
        self, budget: int, keep: Callable[[WatchedFile], bool], finish: Callable[[WatchedFile], None]
    ) -> tuple[int, tuple[WatchedFile, Mismatch] | None]:
        """Re-check blocks of the files still kept until `budget` bytes were read; `finish` each file re-checked
        to its end. Returns (bytes read, the first file that no longer matches its ledger)."""
        used = 0
        while self._at < len(self.files):
            file, stop = self.files[self._at], self.stops[self._at]
            if keep(file):
                if self._block < stop:
                    if used >= budget:
                        break
                    n, self._block, mismatch = recheck(file.path, file.ledger, self._block, stop, budget - used)
                    used += n
                    if mismatch is not None:
                        self.read += used
                        return used, (file, mismatch)
                    if self._block < stop:
                        break
                finish(file)
            self._at, self._block = self._at + 1, 0
        self.read += used
        return used, None


class QueueScrub:
    """The four parts of the module docstring, for every queue, a budget per call; counters say what each
    part read (bytes), walked (checkpoints) and stat'ed, for the cost tests and bench/bench_scrub.py."""

    def __init__(
        self,
        folders: Mapping[str, Path],
        pass_wall_s: float,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        platform: str = sys.platform,
    ) -> None:
        self.queues = [QueueFiles(name, folder) for name, folder in folders.items()]
        self.pass_wall_s = pass_wall_s
        self.clock = clock
        self.wall_ns = wall_ns
        self.platform = platform
        self.passes = 0  # rolling passes that ended with every byte verified at their start re-checked
        self.slow_passes = 0
        self.new_bytes = self.rolling_bytes = self.changed_bytes = self.slow_bytes = 0
        self.stats = 0
        self._last = clock()
        self._turn = 0
        self._rolling: Sweep | None = None
        self._rolled = False  # the current rolling pass has ended
        self._pass_started = self._last
        self._slow = Sweep([])
        self._slow_credit = 0.0
        self._finding: Finding | None = None

    @property
    def bytes_read(self) -> int:
        """Bytes hashed so far, all parts together."""
        return self.new_bytes + self.rolling_bytes + self.changed_bytes + self.slow_bytes

    @property
    def checkpoints(self) -> int:
        """Checkpoints walked so far (new bytes only: re-checks use the ledgers)."""
        return sum(q.checkpoints for q in self.queues)

    def check(self) -> Finding | None:
        """This call's share of the scrub; a fault is a STOP finding, returned again by every later call."""
        if self._finding is None:
            try:
                self._finding = self._check()
            except (NoreError, OSError) as exc:  # a file that cannot be read is a finding too (fail closed)
                self._finding = read_error("queues", exc)
        return self._finding

    def _check(self) -> Finding | None:
        now = self.clock()
        gap = min(max(now - self._last, 0.0), _MAX_GAP_S)
        self._last = now
        if self._rolling is None or (self._rolled and now - self._pass_started >= self.pass_wall_s):
            self._start_pass(now)  # over what was verified before this call's new bytes
        cap = max(SCRUB_MIN_BYTES, int(SCRUB_MAX_BYTES_PER_S * gap))
        self._turn = (self._turn + 1) % len(self.queues) if self.queues else 0
        for queue in self.queues[self._turn :] + self.queues[: self._turn]:  # a backlog is shared out
            try:
                indexes = queue.indexes()
                finding = self._tip(queue, indexes[-1] if indexes else 0)
                if finding is not None:
                    return finding
                used, fault = queue.verify_new(indexes, cap)
            except (NoreError, OSError) as exc:
                return read_error(queue.name, exc)
            self.new_bytes += used
            cap -= used
            if fault is not None:
                return fault.error.reason_code, f"watchdog re-verifying {queue.name}/{fault}"
            finding = self._fingerprints(queue)
            if finding is not None:
                return finding
        return self._roll(now, gap, cap) or self._slow_step(gap)

    def _tip(self, queue: QueueFiles, newest: int) -> Finding | None:
        """The newest segment still holds every byte its chain records as published."""
        segment = segment_path(queue.folder, INBOX, newest)
        at = covered(queue.folder, INBOX, newest)
        size = segment.stat().st_size if segment.exists() else 0
        if size < at.end:
            fault = truncated(segment, size, at)
            return fault.error.reason_code, f"{queue.name}/{fault}"
        return None

    def _fingerprints(self, queue: QueueFiles) -> Finding | None:
        """(2): a trusted file whose fingerprint changed is re-checked whole; unchanged content rejoins (3)."""
        for file in queue.watched():
            if file.trusted is None:
                continue
            st = stat_or_none(file.path)
            self.stats += 1
            if st is not None and fingerprint(st, self.platform) == file.trusted:
                continue
            used, mismatch = recheck_whole(file)
            self.changed_bytes += used
            if mismatch is not None:
                return diagnose(queue, file, mismatch)
            file.trusted = None  # touched, not changed (or replaced by an equal copy)
        return None

    def _start_pass(self, now: float) -> None:
        """(3): a rolling pass over every verified file not trusted; sealed ones get a candidate fingerprint."""
        files = [f for q in self.queues for f in q.watched() if f.trusted is None]
        for file in files:
            file.candidate = None
            if file.sealed:
                st = stat_or_none(file.path)
                self.stats += 1
                if st is not None and not racy(st, self.wall_ns()):
                    file.candidate = fingerprint(st, self.platform)
        self._rolling, self._rolled, self._pass_started = Sweep(files), False, now

    def _roll(self, now: float, gap: float, cap: int) -> Finding | None:
        """(3): this call's share of the rolling pass, paced to end within `pass_wall_s` of its start."""
        sweep = self._rolling
        if sweep is None or self._rolled:
            return None
        elapsed = now - self._pass_started + gap  # at the next check
        span = max(self.pass_wall_s - gap, gap)
        due = sweep.total if elapsed >= span else int(sweep.total * elapsed / span)
        used, bad = sweep.step(min(max(due - sweep.read, SCRUB_MIN_BYTES), cap), self._untrusted, self._trust)
        self.rolling_bytes += used
        if bad is not None:
            return diagnose(self._queue(bad[0]), *bad)
        if sweep.finished and not any(q.behind for q in self.queues):
            self._rolled = True
            self.passes += 1
        return None

    @staticmethod
    def _untrusted(file: WatchedFile) -> bool:
        return file.trusted is None

    def _trust(self, file: WatchedFile) -> None:
        """A sealed file re-checked whole after its candidate fingerprint was taken, and still unchanged."""
        if file.candidate is not None:
            st = stat_or_none(file.path)
            self.stats += 1
            if st is not None and fingerprint(st, self.platform) == file.candidate:
                file.trusted = file.candidate
            file.candidate = None

    def _slow_step(self, gap: float) -> Finding | None:
        """(4): the trusted files against their ledgers, SCRUB_SLOW_BYTES_PER_S of wall time on average."""
        self._slow_credit = min(
            self._slow_credit + SCRUB_SLOW_BYTES_PER_S * gap, BLOCK + SCRUB_SLOW_BYTES_PER_S * _MAX_GAP_S
        )
        if self._slow.finished:
            trusted = [f for q in self.queues for f in q.watched() if f.trusted is not None]
            if not trusted:
                return None
            self._slow = Sweep(trusted)
        if self._slow_credit <= 0:
            return None
        used, bad = self._slow.step(int(self._slow_credit), self._trusted, self._no_op)
        self._slow_credit -= used
        self.slow_bytes += used
        if bad is not None:
            return diagnose(self._queue(bad[0]), *bad)
        if self._slow.finished:
            self.slow_passes += 1
        return None

    @staticmethod
    def _trusted(file: WatchedFile) -> bool:
        return file.trusted is not None

    @staticmethod
    def _no_op(file: WatchedFile) -> None:
        return None

    def _queue(self, file: WatchedFile) -> QueueFiles:
        return next(q for q in self.queues if q.name == file.queue)
