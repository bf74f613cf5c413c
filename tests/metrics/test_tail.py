"""The collector's read-only tail of a journal: one event at a time, and a rewound copy from the first line."""

from __future__ import annotations

from pathlib import Path

from minibot.journal.layout import INBOX
from minibot.metrics.tail import JournalTail

from .runbuild import T0, RunBuilder


def test_events_move_past_each_line_as_it_is_yielded_and_rewound_starts_over(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path / "var")
    for k in range(3):
        b.tick(T0 + k, 100.0 + k, 101.0 + k)
    paths = b.ctx.queue_paths("market_ticks")
    tail = JournalTail(paths.folder, INBOX, paths.contract)
    events = tail.events()
    first = next(events)
    assert first["payload"]["bid"] == 100.0 and tail.lines == 1  # folded one by one, not a list per poll
    assert [e["payload"]["bid"] for e in events] == [101.0, 102.0] and tail.lines == 3
    b.tick(T0 + 3, 103.0, 104.0)
    assert [e["payload"]["bid"] for e in tail.read()] == [103.0]
    again = tail.rewound()
    assert [e["payload"]["bid"] for e in again.events()] == [100.0, 101.0, 102.0, 103.0]
    assert tail.lines == 4 and again.lines == 4 and again.contract is tail.contract
    b.close()
