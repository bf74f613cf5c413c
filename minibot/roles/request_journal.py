"""`<run>/market/requests.jsonl`: every REST request the Binance client sent, as `http_request` events (R-X2).

A journal, not a queue: nobody consumes it; `nore verify` reads it to prove only public GET paths were
requested. market_role and health_role both append to it, so each batch is one `write()` under a
cross-process lock, after the same torn-tail repair the queue producer does (a tail without its newline
was cut by a crash mid-append; it is truncated, and the repair recorded in `market/recovery.jsonl`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from minibot.contracts.codec import encode_line
from minibot.contracts.envelope import build_envelope, encode_event
from minibot.contracts.registry import QueueContract, registry
from minibot.ids import random_id
from minibot.journal.atomic import held_lock
from minibot.journal.context import RunContext
from minibot.journal.segments import FsyncPolicy, SegmentAppender
from minibot.journal.tail import repair_and_describe
from minibot.market.rest import RequestRecord
from minibot.runlayout import REQUESTS_JOURNAL, REQUESTS_STEM

RECOVERY = "recovery.jsonl"
LOCK = ".requests.lock"
_ERROR_MAX = 4000


def journal_contract() -> QueueContract:
    """Types and producers allowed in the request journal, from contracts.v1.json (R-C4)."""
    entry = registry().document["journals"][REQUESTS_JOURNAL]
    return QueueContract(REQUESTS_JOURNAL, frozenset(entry["types"]), frozenset(entry["producers"]), ())


def journal_folder(run_dir: Path) -> Path:
    """Folder holding the request journal of a run."""
    return Path(run_dir) / Path(REQUESTS_JOURNAL).parent


class RequestJournal:
    """Buffers `RequestRecord`s of one role and appends them as `http_request` events on `flush()`."""

    def __init__(self, ctx: RunContext, role: str, fsync: str = "always") -> None:
        self.ctx = ctx
        self.role = role
        self.folder = journal_folder(ctx.run_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.contract = journal_contract()
        segment_max = ctx.queues.segment_max_bytes
        self._appender = SegmentAppender(self.folder, REQUESTS_STEM, FsyncPolicy.parse(fsync), segment_max)
        self._lock_fh = open(self.folder / LOCK, "a+b")  # noqa: SIM115 - held for the journal's lifetime
        self._buffer: list[bytes] = []
        self.written = 0

    def append(self, record: RequestRecord) -> None:
        """Encode (and validate) one request now; it reaches the file at the next `flush()`."""
        payload: dict[str, Any] = {
            "role": self.role,
            "method": record.method,
            "path": record.path,
            "query": record.query,
            "status": record.status,
            "latency_ms": round(record.latency_ms, 3),
            "weight_used": record.used_weight,
            "error": None if record.error is None else record.error[:_ERROR_MAX],
            "started_ts": record.ts,
        }
        self._buffer.append(encode_event(self._event("http_request", payload), self.contract))

    def _event(self, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
        return build_envelope(
            type_=type_,
            payload=payload,
            ts=self.ctx.clock(),
            id_=random_id(),
            source=self.role,
            run_id=self.ctx.run_id,
            cmdline_hash=self.ctx.cmdline_hash,
        )

    def flush(self) -> int:
        """Append everything buffered as one write; returns how many requests were written."""
        if not self._buffer:
            return 0
        data, count = b"".join(self._buffer), len(self._buffer)
        self._buffer = []
        with held_lock(self._lock_fh, str(self.folder / LOCK)):
            path = self._appender.sync_to_newest()
            if path.exists() and path.stat().st_size:
                self._repair(path)
            self._appender.append(data)
        self.written += count
        return count

    def _repair(self, path: Path) -> None:
        record = repair_and_describe(path, "market_requests")
        if record is None:
            return
        with (self.folder / RECOVERY).open("ab") as fh:
            fh.write(encode_line(self._event("queue_recovery", record)))
            fh.flush()
            os.fsync(fh.fileno())

    def close(self) -> None:
        """Write what is buffered and release the files."""
        try:
            self.flush()
        finally:
            self._appender.close()
            self._lock_fh.close()
