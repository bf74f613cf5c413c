"""Watermark (minibot/roles/timeline.py): follows a peer's acks journal across segments, never decreases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_RUN_ID
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.segments import segment_path
from minibot.roles.timeline import MARKET, Watermark


def _ack(last_line: int) -> bytes:
    """An acks-journal line as Watermark reads it: `sha256:<64 hex> <envelope>`."""
    return b"sha256:" + b"0" * 64 + b" " + orjson.dumps({"type": "ack", "payload": {"last_line": last_line}}) + b"\n"


def test_watermark_follows_the_acks_journal_into_its_next_segment(tmp_path: Path) -> None:
    queues = replace(scratch_queues(), base_dir="queues")
    ctx = RunContext(tmp_path, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 0, queues)
    market = ctx.queue_paths(MARKET)
    market.create()
    mark = Watermark(market, "risk_role")
    stem = market.acks_stem("risk_role")
    first, second = segment_path(market.folder, stem, 0), segment_path(market.folder, stem, 1)
    assert mark.read() == -1  # no ack yet
    first.write_bytes(_ack(3))
    assert mark.read() == 3
    with first.open("ab") as fh:
        fh.write(_ack(5) + b"sha256:" + b"0" * 10)  # a line still being written is not read
    assert mark.read() == 5
    # The writer rotates: segment 0 is final once segment 1 exists, and the watermark moves on to it.
    second.write_bytes(_ack(9))
    assert mark.read() == 9
    assert mark.read() == 9  # unchanged file: the same answer
    with second.open("ab") as fh:
        fh.write(_ack(12))
    assert mark.read() == 12
    # A fresh reader (a restarted role) walks to the newest segment at once.
    fresh = Watermark(market, "risk_role")
    assert fresh.read() == 12
    fresh.close()
    # Never decreases, even if a later line names an earlier one.
    with second.open("ab") as fh:
        fh.write(_ack(4))
    assert mark.read() == 12
    mark.close()  # released, and read again from the file when asked
    with second.open("ab") as fh:
        fh.write(_ack(15))
    assert mark.read() == 15
    mark.close()
