"""journal/reader.py: forward iteration over a segmented journal's whole lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.journal import reader
from minibot.journal.reader import iter_lines
from tests.readspy import spy_reads


def test_lines_across_chunks_and_segments_and_a_partial_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "_CHUNK", 64)  # several chunks, a line cut by each boundary
    line = b"x" * 29 + b"\n"
    (tmp_path / "inbox.jsonl").write_bytes(line * 10)
    (tmp_path / "inbox.000001.jsonl").write_bytes(line * 3 + b"partial")
    got = list(iter_lines(tmp_path, "inbox"))
    assert [(r.segment, r.start, r.end) for r in got] == [(0, 30 * i, 30 * i + 30) for i in range(10)] + [
        (1, 30 * i, 30 * i + 30) for i in range(3)
    ]
    assert all(r.data == line for r in got)
    assert [r.start for r in iter_lines(tmp_path, "inbox", 1, 30)] == [30, 60]


def test_reads_are_sized_to_what_the_file_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The metrics collector reads every queue each poll: read(1 MB) for a few KB of lines allocates 1 MB
    # each time and churned the supervisor's C heap all night (issue 14, item 4).
    (tmp_path / "inbox.jsonl").write_bytes(b"y" * 99 + b"\n")
    asked = spy_reads(monkeypatch)
    assert len(list(iter_lines(tmp_path, "inbox"))) == 1
    assert asked and max(asked) <= reader._MIN_READ
