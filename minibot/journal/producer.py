"""Queue producer: validated, framed, batched appends under a cross-process lock (R-A2, R-C1, R-P3).

Before every batch, under the lock, the producer makes sure the newest segment ends on a whole line: a
tail without its newline is an append torn by a crash (it was never published, because readers consume
whole lines only), so it is truncated and the repair is recorded in `recovery.jsonl`. Any other damage is
left for the consumer, which STOPs on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from minibot.contracts.envelope import build_envelope, encode_event
from minibot.ids import random_id
from minibot.journal.atomic import held_lock
from minibot.journal.codec import encode_line
from minibot.journal.layout import INBOX, RECOVERY, QueuePaths
from minibot.journal.segments import FsyncPolicy, SegmentAppender, repair_and_describe

Clock = Callable[[], int]


class Producer:
    """Writes events of one source role to one queue."""

    def __init__(
        self,
        paths: QueuePaths,
        *,
        source: str,
        run_id: str,
        cmdline_hash: str,
        clock: Clock,
        fsync: FsyncPolicy | str = "always",
        segment_max_bytes: int = 64 << 20,
    ) -> None:
        self.paths = paths
        self.source = source
        self.run_id = run_id
        self.cmdline_hash = cmdline_hash
        self.clock = clock
        policy = FsyncPolicy.parse(fsync) if isinstance(fsync, str) else fsync
        paths.folder.mkdir(parents=True, exist_ok=True)
        self._appender = SegmentAppender(paths.folder, INBOX, policy, segment_max_bytes)
        self._lock_fh = open(paths.lock, "a+b")  # noqa: SIM115 - held for the producer's lifetime
        self.repairs: list[dict[str, Any]] = []

    def event(
        self, type_: str, payload: Mapping[str, Any], *, ts: int | None = None, id_: str | None = None
    ) -> dict[str, Any]:
        """An envelope from this producer (random id and clock time unless given)."""
        return build_envelope(
            type_=type_,
            payload=payload,
            ts=self.clock() if ts is None else ts,
            id_=id_ or random_id(),
            source=self.source,
            run_id=self.run_id,
            cmdline_hash=self.cmdline_hash,
        )

    def publish(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Validate and append `events` as one write; return how many were written.

        Raises ContractViolation before writing anything if any event is invalid.
        """
        contract = self.paths.contract
        data = b"".join(encode_event(ev, contract) for ev in events)
        if not data:
            return 0
        with held_lock(self._lock_fh, str(self.paths.lock)):
            path = self._appender.sync_to_newest()
            self._repair_tail(path)
            self._appender.append(data)
        return data.count(b"\n")

    def _repair_tail(self, path: Path) -> None:
        record = repair_and_describe(path, self.paths.contract.name)
        if record is None:
            return
        self.repairs.append(record)
        line = encode_line(self.event("queue_recovery", record))
        with (self.paths.folder / f"{RECOVERY}.jsonl").open("ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def flush_if_due(self) -> None:
        """Group commit tick: call from idle loops so the tail is fsynced within the interval."""
        self._appender.flush_if_due()

    def close(self) -> None:
        """Flush and release files."""
        self._appender.close()
        self._lock_fh.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
