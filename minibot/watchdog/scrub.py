"""The watchdog's continuous re-verification of what the queues hold (R-T2, R-T6): damage found during the run.

Consumers verify each line once, when they read it; a byte that changes afterwards, or lines removed,
swapped or cut off behind them, would otherwise only be found by `nore verify` the next morning. So the
watchdog re-reads every published byte against each segment's hash chain (journal/chain.py), in passes:
each pass reads every byte once, and each periodic check spends a budget sized so that one pass takes at
most half of SCRUB_BOUND_RUN_S of run clock. A pass starts at most once per half bound: small queues, which
one check reads whole, are not re-read at every check (issue 14, idle cost), and the next pass still starts
within half the bound of the previous start. Damage is therefore found within SCRUB_BOUND_RUN_S (the pass
that has just gone past it, then the next one), as long as the checks may read what that needs: at most
SCRUB_MAX_BYTES_PER_S of wall time (a few % of one core for sha256), beyond which the bound grows with the
queues' size (docs/architecture.md has the figures). A cheap tip check on every call also catches a queue
that became shorter than its chain (truncated or deleted) at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from minibot.journal.chain import covered, truncated
from minibot.journal.chaincheck import QueueChainCheck
from minibot.journal.layout import INBOX
from minibot.journal.segments import list_segments, segment_path
from minibot.reasons import NoreError, ReasonCode

Finding = tuple[ReasonCode, str]
SCRUB_BOUND_RUN_S = 60.0
SCRUB_MAX_BYTES_PER_S = 16 << 20
SCRUB_MIN_BYTES = 1 << 20
_MAX_GAP_S = 5.0  # a check after a long stall does not catch up more than this much reading


class QueueScrub:
    """Round-robin passes over every queue's chain, a byte budget per call."""

    def __init__(
        self, folders: Mapping[str, Path], pass_wall_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.checks = {name: QueueChainCheck(folder) for name, folder in folders.items()}
        self.pass_wall_s = pass_wall_s
        self.clock = clock
        self.passes = 0
        self.bytes_read = 0
        self._order = list(self.checks)
        self._at = 0
        self._last = clock()
        self._pass_started = self._last
        self._between_passes = False  # the last pass has ended; the next one waits for its start

    def check(self) -> Finding | None:
        """Tip check of every queue, then verify this call's share of bytes; a fault is a STOP finding.

        A pass that ended early (small queues) is followed by the next one `pass_wall_s` after its start,
        not at once: between them a check is the tip check only."""
        total = 0
        for name, chain in self.checks.items():
            try:
                segments = list_segments(chain.folder, INBOX)
                total += sum(path.stat().st_size for _, path in segments)
                finding = self._tip(name, chain.folder, segments[-1][0] if segments else 0)
            except (NoreError, OSError) as exc:
                return _finding(name, exc)
            if finding is not None:
                return finding
        now = self.clock()
        gap = min(now - self._last, _MAX_GAP_S)
        self._last = now
        if self._between_passes:
            if now - self._pass_started < self.pass_wall_s:
                return None
            self._between_passes = False
            self._pass_started = now
        budget = int(max(SCRUB_MIN_BYTES, min(total * gap / self.pass_wall_s, SCRUB_MAX_BYTES_PER_S * gap)))
        return self._step(budget)

    def _tip(self, name: str, folder: Path, newest: int) -> Finding | None:
        """The newest segment still holds every byte its chain records as published."""
        segment = segment_path(folder, INBOX, newest)
        at = covered(folder, INBOX, newest)
        size = segment.stat().st_size if segment.exists() else 0
        if size < at.end:
            fault = truncated(segment, size, at)
            return fault.error.reason_code, f"{name}/{fault}"
        return None

    def _step(self, budget: int) -> Finding | None:
        while budget > 0:
            name = self._order[self._at]
            chain = self.checks[name]
            try:
                used, fault = chain.step(budget)
            except (NoreError, OSError) as exc:
                return _finding(name, exc)
            self.bytes_read += used
            budget -= max(used, 1)
            if fault is not None:
                return fault.error.reason_code, f"watchdog re-verifying {name}/{fault}"
            if chain.pass_done():
                self._at += 1
                if self._at == len(self._order):
                    self._at = 0
                    self.passes += 1
                    self._between_passes = True
                    return None  # one pass per call at most: an idle run does not spin here
        return None


def _finding(name: str, exc: Exception) -> Finding:
    if isinstance(exc, NoreError):
        return exc.reason_code, f"{name}: {exc.detail}"
    return ReasonCode.CURSOR_DESYNC, f"{name}: cannot read the queue ({exc})"
