"""A consumer's commit bookkeeping: its acks journal and cursor checkpoint (R-A2, R-T1/T2/T6).

Commit protocol per batch: append one `ack` line (first..last line, last id, end position) to the acks
journal, then (at most every CURSOR_INTERVAL_S, and on close) atomically rewrite the cursor (a checkpoint that also
records where the next ack goes). Before each ack the acks journal must still end where this consumer's
last ack did (not deleted, truncated or written by anyone else): it STOPs during the run instead of being
found by verify later. On open, the cursor is checked against the queue (the line ending at its offset must
have its sha256) and every ack written after it is rolled forward (a crash between ack and cursor loses
nothing). Anything that does not add up raises CursorDesync. Reading the queue is minibot/journal/consumer.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from minibot.contracts.codec import encode_line
from minibot.contracts.envelope import build_envelope
from minibot.ids import deterministic_id
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.cursor import Cursor, verify_position
from minibot.journal.layout import QueuePaths
from minibot.journal.ordering import ACK
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.segments import FsyncPolicy, SegmentAppender, list_segments, segment_path
from minibot.journal.tail import repair_torn_tail
from minibot.reasons import CursorDesync, ReasonCode

CURSOR_INTERVAL_S = 5.0
"""Cursor checkpoints at most this often (group commit): the acks journal is the durable log, and
recovery rolls the cursor forward over every ack written after it, so nothing depends on a fresher one."""


class AckLog:
    """The acks journal and cursor of one named consumer of one queue; `committed` is where it stands."""

    def __init__(
        self,
        paths: QueuePaths,
        consumer: str,
        *,
        run_id: str,
        cmdline_hash: str,
        clock: Callable[[], int],
        policy: FsyncPolicy,
    ) -> None:
        self.paths = paths
        self.name = consumer
        self.run_id = run_id
        self.cmdline_hash = cmdline_hash
        self.clock = clock
        self.policy = policy
        self._acks = SegmentAppender(paths.folder, paths.acks_stem(consumer), policy, 64 << 20, ACK)
        self.committed = self._recover()
        self._cursor_dirty = False
        self._cursor_written = time.monotonic()
        self._acks_path: tuple[int, Path] = (-1, paths.folder)  # (segment, path) of the acks tail checked

    def _recover(self) -> Cursor:
        stem = self.paths.acks_stem(self.name)
        for _, path in list_segments(self.paths.folder, stem)[-1:]:
            repair_torn_tail(path)  # a torn ack was never committed: the batch is simply redone
        path = self.paths.cursor(self.name)
        cursor = Cursor.initial() if not path.exists() else Cursor.from_dict(read_critical_json(path))
        verify_position(self.paths, cursor)
        rolled = cursor
        for raw in iter_lines(self.paths.folder, stem, cursor.acks_segment, cursor.acks_offset):
            _, ack = decode_event(raw.data, None, run_id=self.run_id)
            p = ack["payload"]
            if ack["type"] != "ack" or p["consumer"] != self.name or p["first_line"] != rolled.line:
                raise CursorDesync(
                    f"{stem} ({raw.start}): ack for lines {p.get('first_line')}..{p.get('last_line')} "
                    f"does not continue the cursor at line {rolled.line}",
                    ReasonCode.ACKS_OUT_OF_ORDER,
                )
            rolled = Cursor(p["segment"], p["offset"], p["last_line"] + 1, p["last_id"], None, raw.segment, raw.end)
            verify_position(self.paths, rolled)
        if rolled != cursor or not path.exists():
            self._write_cursor(rolled)
        return rolled

    def _write_cursor(self, cursor: Cursor) -> None:
        data = cursor.to_dict(self.paths.contract.name, self.name, self.run_id, self.clock())
        write_critical_json(self.paths.cursor(self.name), data, fsync=self.policy.mode == "always")

    def commit(self, target: Cursor) -> None:
        """Append the ack of every line from `committed` up to `target` (a read position) and move there."""
        first = self.committed.line
        ack = build_envelope(
            type_="ack",
            payload={
                "consumer": self.name,
                "first_line": first,
                "last_line": target.line - 1,
                "last_id": target.last_id or "",
                "segment": target.segment,
                "offset": target.offset,
            },
            ts=self.clock(),
            id_=deterministic_id(self.run_id, "ack", self.paths.contract.name, self.name, str(target.line - 1)),
            source=self.name,
            run_id=self.run_id,
            cmdline_hash=self.cmdline_hash,
        )
        self._check_acks_tail()
        seg, end = self._acks.append(encode_line(ack))
        self.committed = Cursor(
            target.segment, target.offset, target.line, target.last_id, target.last_sha256, seg, end
        )
        self._cursor_dirty = True
        self.flush_if_due()

    def _check_acks_tail(self) -> None:
        """This consumer is its acks journal's only writer: it must still end where the last ack did."""
        c = self.committed
        if self._acks_path[0] != c.acks_segment:
            acks = segment_path(self.paths.folder, self.paths.acks_stem(self.name), c.acks_segment)
            self._acks_path = (c.acks_segment, acks)
        path = self._acks_path[1]
        try:
            size: int | None = os.stat(path).st_size
        except FileNotFoundError:
            size = None
        if size == c.acks_offset or (size is None and c.acks_offset == 0):
            return
        state = "does not exist" if size is None else f"is {size} bytes"
        raise CursorDesync(
            f"{self.paths.contract.name}/{path.name} {state} but {self.name}'s last ack ended at byte "
            f"{c.acks_offset} (line {c.line}): the acks journal was deleted, truncated or written by another process"
        )

    def flush_if_due(self, force: bool = False) -> None:
        """Rewrite the cursor checkpoint at most every CURSOR_INTERVAL_S, and on close (group commit)."""
        if not self._cursor_dirty:
            return
        now = time.monotonic()
        if force or now - self._cursor_written >= CURSOR_INTERVAL_S:
            self._acks.flush()  # the acks a checkpoint names are on disk before it is
            self._write_cursor(self.committed)
            self._cursor_dirty = False
            self._cursor_written = now

    def close(self) -> None:
        """Flush the acks and write the cursor checkpoint."""
        self._acks.close()
        self.flush_if_due(force=True)
