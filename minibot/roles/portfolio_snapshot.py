"""The executor's portfolio snapshot `<run>/roles/execution_role/portfolio.json` and its restart check.

The fills queue is the source of truth; the snapshot is a readable, atomically written summary of it (for
reports and operators), rewritten at most every `SNAPSHOT_INTERVAL_MS` of run clock and at shutdown. It is
`Portfolio.snapshot()` plus `last_fill_id` (the newest fill it includes) and `ts` (run clock at writing).

On restart the runner has rebuilt the executor by replaying its input log. Then:
- the rebuilt portfolio must book exactly what `Portfolio.rebuild(fills)` books from the fills journal;
- the snapshot on disk must equal `Portfolio.rebuild` of the first `snapshot["fills"]` fills, its last one
  being `last_fill_id`.
Both compare `Portfolio.ledger()` (what fills alone determine; marks are tick-driven). Any mismatch is a
STOP with PORTFOLIO_SNAPSHOT_MISMATCH; a torn or tampered file is NON_ATOMIC_WRITE.
A snapshot is written only while the portfolio holds exactly the fills that were published: after a batch
failed half-way (the run is STOPping) the core may hold fills that never reached the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.context import RunContext
from minibot.model.portfolio import Portfolio
from minibot.reasons import NoreError, ReasonCode
from minibot.roles.runner import is_core_output, queue_events
from minibot.runlayout import PORTFOLIO_FILE, role_dir

# Run-clock interval between snapshots (a config key would need the config schema's owner; 60 s of run
# clock is one real second at --speed 60 and one minute live).
SNAPSHOT_INTERVAL_MS = 60_000


def _mismatch(detail: str) -> NoreError:
    return NoreError(detail, ReasonCode.PORTFOLIO_SNAPSHOT_MISMATCH)


def _first_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} != {b.get(key)!r}"
    return "equal"


class PortfolioSnapshots:
    """Keeps `portfolio.json` for one executor portfolio and checks it on restart."""

    def __init__(self, ctx: RunContext, role: str, portfolio: Portfolio, log: logging.Logger) -> None:
        self.ctx = ctx
        self.role = role
        self.portfolio = portfolio
        self.log = log
        self.path: Path = role_dir(ctx.run_dir, role) / PORTFOLIO_FILE
        fills = [e for e in queue_events(ctx, "fills") if is_core_output(e, role)]
        self.fills_written = len(fills)
        self.last_fill_id: str | None = fills[-1]["id"] if fills else None
        self._next_ms = 0
        self.verify(fills)

    def _rebuild(self, fills: list[dict[str, Any]]) -> Portfolio:
        pf = self.portfolio
        return Portfolio.rebuild((e["payload"] for e in fills), pf.initial_cash, pf.quote_asset)

    def verify(self, fills: list[dict[str, Any]]) -> None:
        """The restart check (module docstring); raises NoreError(PORTFOLIO_SNAPSHOT_MISMATCH)."""
        journal = self._rebuild(fills).ledger()
        held = self.portfolio.ledger()
        if held != journal:
            raise _mismatch(
                f"{self.role}: rebuilt portfolio differs from the fills journal ({_first_difference(held, journal)})"
            )
        if not self.path.exists():
            return
        snap = read_critical_json(self.path)
        count = snap.get("fills") if isinstance(snap, Mapping) else None
        if not isinstance(count, int) or not 0 <= count <= len(fills):
            raise _mismatch(f"{self.path}: covers {count!r} fills, the fills journal holds {len(fills)}")
        last = fills[count - 1]["id"] if count else None
        if snap.get("last_fill_id") != last:
            raise _mismatch(f"{self.path}: last_fill_id {snap.get('last_fill_id')} but fill {count} is {last}")
        try:
            stored = Portfolio.from_snapshot(snap).ledger()
        except NoreError as exc:
            raise _mismatch(f"{self.path}: {exc.detail}") from None
        expected = self._rebuild(fills[:count]).ledger()
        if stored != expected:
            raise _mismatch(f"{self.path} differs from the first {count} fills ({_first_difference(stored, expected)})")

    def on_fills(self, fills: list[dict[str, Any]]) -> None:
        """Count fills just published; write the snapshot when one is due."""
        if fills:
            self.fills_written += len(fills)
            self.last_fill_id = str(fills[-1]["id"])
        if self.ctx.clock() >= self._next_ms:
            self.write()

    def write(self) -> bool:
        """Write the snapshot now (atomic, with its sha256); False when the portfolio is ahead of the queue."""
        if self.portfolio.fills != self.fills_written:
            self.log.warning(
                "%s: portfolio holds %d fills, %d were published; snapshot not written",
                self.role,
                self.portfolio.fills,
                self.fills_written,
            )
            return False
        now = self.ctx.clock()
        doc = {**self.portfolio.snapshot(), "last_fill_id": self.last_fill_id, "ts": now}
        write_critical_json(self.path, doc)
        self._next_ms = now + SNAPSHOT_INTERVAL_MS
        return True
