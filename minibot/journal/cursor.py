"""A consumer's cursor: a checkpoint of how far it has committed, and its check against the queue (R-T6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from minibot.contracts.codec import split_line
from minibot.journal.layout import INBOX, QueuePaths
from minibot.journal.segments import segment_path
from minibot.journal.tail import last_line
from minibot.reasons import CursorDesync, NoreError


@dataclass(frozen=True, slots=True)
class Cursor:
    """Next line to read (`line`, counted from 0 across segments) at (`segment`, `offset`); the id and
    sha256 of the last committed line; where this consumer's next ack will be appended."""

    segment: int
    offset: int
    line: int
    last_id: str | None
    last_sha256: str | None
    acks_segment: int
    acks_offset: int

    @classmethod
    def initial(cls) -> Cursor:
        """The cursor of a consumer that has read nothing."""
        return cls(0, 0, 0, None, None, 0, 0)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cursor:
        """Parse the `data` of a cursor file; a missing or mistyped field is a desync."""
        try:
            return cls(
                int(d["segment"]),
                int(d["offset"]),
                int(d["line"]),
                d["last_id"],
                d["last_sha256"],
                int(d["acks_segment"]),
                int(d["acks_offset"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CursorDesync(f"cursor file is missing or mistypes a field: {exc}") from None

    def to_dict(self, queue: str, consumer: str, run_id: str, ts: int) -> dict[str, Any]:
        """The cursor file's `data`."""
        return {
            "queue": queue,
            "consumer": consumer,
            "run_id": run_id,
            "ts": ts,
            "segment": self.segment,
            "offset": self.offset,
            "line": self.line,
            "last_id": self.last_id,
            "last_sha256": self.last_sha256,
            "acks_segment": self.acks_segment,
            "acks_offset": self.acks_offset,
        }


def verify_position(paths: QueuePaths, cursor: Cursor) -> None:
    """The cursor must sit on a line boundary, right after the line it names (by sha256 and/or id)."""
    where = f"{paths.contract.name}: cursor at segment {cursor.segment} offset {cursor.offset} line {cursor.line}"
    if cursor.line == 0:
        if (cursor.segment, cursor.offset) != (0, 0):
            raise CursorDesync(f"{where}: line 0 must be at the start of the queue")
        return
    path = segment_path(paths.folder, INBOX, cursor.segment)
    if not path.exists():
        raise CursorDesync(f"{where}: segment file {path.name} does not exist")
    size = path.stat().st_size
    if cursor.offset > size:
        raise CursorDesync(f"{where}: beyond the end of {path.name} ({size} bytes): the queue was truncated")
    if cursor.offset == 0:
        prev = segment_path(paths.folder, INBOX, cursor.segment - 1)
        line = last_line(prev) if cursor.segment > 0 and prev.exists() else None
    else:
        line = last_line(path, cursor.offset)
    if line is None or not line.endswith(b"\n"):
        raise CursorDesync(f"{where}: not on a line boundary")
    try:
        digest, payload = split_line(line)
        event_id = orjson.loads(payload).get("id")
    except (NoreError, orjson.JSONDecodeError, AttributeError) as exc:
        raise CursorDesync(f"{where}: the line before the cursor is not a valid line ({exc})") from None
    if cursor.last_sha256 is not None and digest != cursor.last_sha256:
        raise CursorDesync(
            f"{where}: the line before it has sha256 {digest[:16]}..., cursor says {cursor.last_sha256[:16]}..."
        )
    if cursor.last_id is not None and event_id != cursor.last_id:
        raise CursorDesync(f"{where}: the line before it has id {event_id}, cursor says {cursor.last_id}")
