"""Queue consumer: whole lines only, full validation, deadletter, recovery (R-A2, R-T1/T2/T6).

A consumer reads whole lines from its read position, validates each and hands the valid ones out; `ack()`
commits them through its acks journal and cursor (minibot/journal/acklog.py, which also recovers the position
on open). A queue that has become shorter than what this consumer read is a desync: it STOPs during the run
instead of being found by verify later. An invalid line is copied verbatim to the deadletter and raised after
the valid lines before it have been handed out, so nothing before it is lost.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any, NamedTuple

from minibot.contracts.codec import encode_line
from minibot.contracts.envelope import build_envelope
from minibot.ids import random_id
from minibot.journal.acklog import AckLog
from minibot.journal.atomic import file_lock
from minibot.journal.cursor import Cursor
from minibot.journal.inputsync import InputSync
from minibot.journal.layout import DEADLETTER, INBOX, QueuePaths
from minibot.journal.reader import decode_event
from minibot.journal.seen import SeenWindow, seed_from_queue, window_for
from minibot.journal.segments import APPEND_FLAGS, FsyncPolicy, SegmentNames, list_segments, segment_path
from minibot.journal.watermark import mark_path
from minibot.reasons import CursorDesync, NoreError, ReasonCode

_READ_CHUNK = 1 << 20


class Record(NamedTuple):
    """One consumed event and where it sits (line numbers count from 0 across segments).

    A NamedTuple, not a frozen dataclass: one is built per event per consumer, and this is ~3x cheaper."""

    line: int
    segment: int
    end: int
    sha256: str
    event: dict[str, Any]


class Consumer:
    """Reads one queue as one named consumer."""

    def __init__(
        self,
        paths: QueuePaths,
        consumer: str,
        *,
        run_id: str,
        cmdline_hash: str,
        clock: Callable[[], int],
        fsync: FsyncPolicy | str = "always",
        batch_max: int = 1000,
        dedupe_window: int | None = None,
    ) -> None:
        if consumer not in paths.contract.consumers:
            raise CursorDesync(f"{consumer!r} is not a declared consumer of queue {paths.contract.name!r}")
        self.paths = paths
        self.name = consumer
        self.run_id = run_id
        self.cmdline_hash = cmdline_hash
        self.clock = clock
        self.policy = FsyncPolicy.parse(fsync) if isinstance(fsync, str) else fsync
        self.batch_max = batch_max
        self.duplicates_dropped = 0
        window = dedupe_window if dedupe_window is not None else window_for(batch_max)
        self._seen = SeenWindow(window)
        self._pending_error: NoreError | None = None
        paths.folder.mkdir(parents=True, exist_ok=True)
        # What this consumer read is made durable before its acks, or anything else the process writes
        # after reading it, can be (minibot/journal/ordering.py): a power cut cannot keep an ack of a lost line.
        self._input = InputSync(mark_path(paths.folder, INBOX))
        self._log = AckLog(paths, consumer, run_id=run_id, cmdline_hash=cmdline_hash, clock=clock, policy=self.policy)
        # Ids consumed before a restart stay in the window: a duplicate written after it is still dropped.
        seed_from_queue(self._seen, paths.folder, INBOX, self.committed.segment, self.committed.offset, window)
        self._read = self.committed  # read position, ahead of `committed` until ack()
        self._fh: Any = None
        self._fh_segment = -1
        self._name = SegmentNames(paths.folder, INBOX)  # `poll` stats these on every round of an idle role
        self.more = False  # the last poll may have left lines unread (see `poll`)

    @property
    def committed(self) -> Cursor:
        """Position after the last line acked."""
        return self._log.committed

    # ---- reading --------------------------------------------------------------------------------
    def _file(self, segment: int) -> Any:
        if self._fh_segment != segment:
            if self._fh is not None:
                self._fh.close()
            self._fh = open(self._name(segment), "rb")  # noqa: SIM115 - held across polls, closed in close()
            self._fh_segment = segment
        return self._fh

    def poll(self, max_events: int | None = None) -> list[Record]:
        """Up to `max_events` new valid records (read, not yet acked); `more` says afterwards whether this
        poll stopped before the end of what was published.

        The error of an invalid line is raised on the call after the valid records before it were
        returned, so they can still be processed and acked.
        """
        if self._pending_error is not None:
            raise self._pending_error
        limit = max_events or self.batch_max
        out: list[Record] = []
        pos = self._read
        # Where the last whole line ended while `pos` has moved on to a next segment with no line read from it
        # yet: an ack must name a line where it ends, (k, end of k), never (k+1, 0) (verify and `Record.end`
        # do; the producer creates k+1 just before its first write there, so this is seen at rotations).
        ended: Cursor | None = None
        while len(out) < limit and self._pending_error is None:
            if not os.path.exists(self._name(pos.segment)):
                if pos.offset > 0:
                    raise self._vanished(pos)
                break
            fh = self._file(pos.segment)
            size = os.fstat(fh.fileno()).st_size
            if size < pos.offset:
                raise self._vanished(pos)
            if size == pos.offset and not os.path.exists(self._name(pos.segment + 1)):
                break  # nothing new: an idle poll (most polls of a quiet market) reads no bytes
            fh.seek(pos.offset)
            # Sized to what is there: read(n) allocates n bytes before it reads, and 1 MB per poll for a few
            # KB of lines churns the C heap (fragmentation the process keeps all night; issue 14, item 4).
            buf = fh.read(min(_READ_CHUNK, size - pos.offset))
            last_nl = buf.rfind(b"\n")
            if not buf and os.fstat(fh.fileno()).st_size < pos.offset:
                raise self._vanished(pos)
            if last_nl < 0:
                if not os.path.exists(self._name(pos.segment + 1)):
                    break  # nothing new, or a line still being appended
                fh.seek(pos.offset)  # the next segment exists, so this one is final: read it once more
                buf = fh.read(min(_READ_CHUNK, max(0, os.fstat(fh.fileno()).st_size - pos.offset)))
                if b"\n" in buf:
                    continue
                if buf:
                    self._fail(pos, buf, CursorDesync("closed segment ends inside a line", ReasonCode.LINE_TORN))
                    break
                if pos.offset:
                    ended = pos
                pos = Cursor(pos.segment + 1, 0, pos.line, pos.last_id, pos.last_sha256, 0, 0)
                continue
            base = pos.offset
            begin = 0
            line_no, last_id, last_sha = pos.line, pos.last_id, pos.last_sha256
            seen, contract, run_id, cmd_hash = self._seen, self.paths.contract, self.run_id, self.cmdline_hash
            while begin <= last_nl and len(out) < limit:
                nl = buf.index(b"\n", begin)
                line = buf[begin : nl + 1]
                try:
                    digest, event = decode_event(line, contract, run_id=run_id, cmdline_hash=cmd_hash)
                except NoreError as exc:
                    self._fail(Cursor(pos.segment, base + begin, line_no, None, None, 0, 0), line, exc)
                    break
                event_id = event["id"]
                if not seen.add(event_id):
                    self.duplicates_dropped += 1
                else:
                    out.append(Record(line_no, pos.segment, base + nl + 1, digest, event))
                line_no, last_id, last_sha = line_no + 1, event_id, digest
                begin = nl + 1
            pos = Cursor(pos.segment, base + begin, line_no, last_id, last_sha, 0, 0)
        read = ended if ended is not None and pos.offset == 0 else pos
        if read != self._read and read.offset:
            self._input.read(self._name(read.segment), read.segment, read.offset)
        self._read = read
        # Stopped by the limit (lines may be left) or by an invalid line (its error is raised on the next
        # poll): the role must poll again without waiting for a ring (minibot/roles/process.py `run_loop`).
        self.more = len(out) >= limit or self._pending_error is not None
        return out

    def _vanished(self, pos: Cursor) -> CursorDesync:
        """The error for a queue segment that lost bytes this consumer has already read."""
        path = segment_path(self.paths.folder, INBOX, pos.segment)
        size = path.stat().st_size if path.exists() else None
        state = "does not exist" if size is None else f"is {size} bytes"
        return CursorDesync(
            f"{self.paths.contract.name}/{path.name} {state} but {self.name} has read line {pos.line} up to byte "
            f"{pos.offset}: the queue was truncated, deleted or replaced under its readers"
        )

    def _fail(self, at: Cursor, raw: bytes, exc: NoreError) -> None:
        """Copy the offending line verbatim to the deadletter and hold the error for the next poll."""
        name = segment_path(self.paths.folder, INBOX, at.segment).name
        record = {
            "queue": self.paths.contract.name,
            "file": name,
            "line": at.line,
            "offset": at.offset,
            "reason_code": exc.reason_code.value,
            "detail": exc.detail[:3900],
            "raw_b64": base64.b64encode(raw).decode("ascii"),
        }
        env = build_envelope(
            type_="deadletter",
            payload=record,
            ts=self.clock(),
            id_=random_id(),
            source=self.name,
            run_id=self.run_id,
            cmdline_hash=self.cmdline_hash,
        )
        # Under the queue's lock: several consumers of one queue share its deadletter journal.
        with file_lock(self.paths.lock):
            fd = os.open(self.paths.folder / f"{DEADLETTER}.jsonl", APPEND_FLAGS, 0o644)
            try:
                os.write(fd, encode_line(env))
                os.fsync(fd)
            finally:
                os.close(fd)
        exc.detail = f"{self.paths.contract.name}/{name}:{at.line + 1} ({at.offset}): {exc.detail}"
        self._pending_error = exc

    @property
    def read(self) -> Cursor:
        """Position after the last line polled (ahead of `committed` until `ack()`)."""
        return self._read

    # ---- committing -----------------------------------------------------------------------------
    def ack(self, through: Record | None = None) -> None:
        """Commit everything polled so far, or only up to and including the polled record `through` (a
        role that merges several queues acks what it processed and keeps the rest for later): one ack line,
        then the cursor checkpoint."""
        target = self._read
        if through is not None:
            target = Cursor(through.segment, through.end, through.line + 1, through.event["id"], through.sha256, 0, 0)
        if target.line <= self.committed.line:
            return
        self._log.commit(target)
        if self._read.line <= target.line:
            self._read = self.committed

    def flush_if_due(self, force: bool = False) -> None:
        """Rewrite the cursor checkpoint at most every CURSOR_INTERVAL_S, and on close (group commit)."""
        self._log.flush_if_due(force)

    def lag_bytes(self) -> int:
        """Bytes published but not yet acked by this consumer."""
        total = 0
        for index, path in list_segments(self.paths.folder, INBOX):
            if index >= self.committed.segment:
                total += path.stat().st_size - (self.committed.offset if index == self.committed.segment else 0)
        return total

    def close(self) -> None:
        """Flush acks, write the cursor checkpoint and close files."""
        self._log.close()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._input.close()
