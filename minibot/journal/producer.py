"""Queue producer: validated, framed, batched appends under a cross-process lock (R-A2, R-C1, R-P3).

Before every batch, under the lock, the producer makes sure the newest segment ends on a whole line: a
tail without its newline is an append torn by a crash (it was never published, because readers consume
whole lines only), so it is truncated and the repair is recorded in `recovery.jsonl`. The segment's hash
chain (chain.py) says how many bytes were published: a segment shorter than that, or torn below it, lost
lines readers may have consumed, which is a desync (CursorDesync, a STOP), never repaired. Whole lines a
killed producer wrote but did not chain are chained first. After each batch one checkpoint goes to the
sidecar. Any other damage is left for the consumers and the watchdog, which STOP on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from minibot.contracts.codec import encode_line
from minibot.contracts.envelope import build_envelope, encode_event
from minibot.contracts.registry import registry
from minibot.ids import random_id
from minibot.journal.atomic import held_lock
from minibot.journal.chain import Checkpoint, SidecarWriter, chain_path, covered, link, truncated
from minibot.journal.layout import INBOX, RECOVERY, QueuePaths
from minibot.journal.ordering import OUTPUT
from minibot.journal.segments import FsyncPolicy, SegmentAppender
from minibot.journal.tail import repair_and_describe, repair_torn_tail
from minibot.reasons import CursorDesync

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
        self._appender = SegmentAppender(paths.folder, INBOX, policy, segment_max_bytes, watermark=True)
        self._chain = SidecarWriter(paths.folder, INBOX, policy)
        self._last: tuple[int, Checkpoint, int] | None = None  # (segment, checkpoint, sidecar size) of the last batch
        self._lock_fh = open(paths.lock, "a+b")  # noqa: SIM115 - held for the producer's lifetime
        self._lock_name = str(paths.lock)  # names the lock in a LockTimeout; built once, not per publish
        self.repairs: list[dict[str, Any]] = []
        # Whether an event of this queue can name a cause at all: market ticks cannot, so their batches skip the
        # per-event look for one.
        schemas = registry().payload_schemas
        self._may_be_caused = any("cause_id" in schemas[t].get("properties", {}) for t in paths.contract.types)
        # Called after each batch is appended, outside the lock, with the batch's urgency (RunContext rings the
        # consumers' doorbells: minibot/journal/doorbell.py `Ringer.ring`).
        self.after_publish: Callable[[bool], None] | None = None

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

    def publish(self, events: Iterable[Mapping[str, Any]], urgent: bool = True) -> int:
        """Validate and append `events` as one write; return how many were written.

        `urgent` False: consumers that listen to this queue sparsely need not be rung for this batch.
        Raises ContractViolation before writing anything if any event is invalid.
        """
        contract = self.paths.contract
        batch = list(events)
        data = b"".join([encode_event(ev, contract) for ev in batch])
        if not data:
            return 0
        if self._may_be_caused and any("cause_id" in ev["payload"] for ev in batch):
            # A line caused by what this process read is never visible before its causes are durable: a
            # reader may fsync it at once (minibot/journal/ordering.py, rule 3).
            self._appender.order.barrier(below=OUTPUT)
        return self._append(data, len(batch), urgent)  # encode_event frames each event as exactly one line

    def publish_framed(self, data: bytes, urgent: bool = True) -> int:
        """Append lines the caller encoded and framed itself (`contracts.codec.frame_all`) as one write, chained
        like every batch; returns how many were written. For a writer that validates its own lines and whose
        lines name no cause (`nore backtest`'s market ticks: minibot/backtest/run.py)."""
        return self._append(data, data.count(b"\n"), urgent)

    def _append(self, data: bytes, lines: int, urgent: bool) -> int:
        """Append `data`, `lines` whole lines, as one write under the queue's lock, and chain it."""
        with held_lock(self._lock_fh, self._lock_name):
            at = self._prepare()
            if self._appender.needs_rotation(len(data)):
                self._chain.open(self._appender.index + 1)  # the sidecar exists before its segment does
                at = Checkpoint(0, 0, at.chain)
            index, end = self._appender.append(data)
            if end != at.end + len(data):
                raise CursorDesync(
                    f"{self.paths.contract.name}: {self._appender.current_path().name} grew by {end - at.end} bytes "
                    f"for a {len(data)}-byte batch: something writes to the queue without its lock"
                )
            done = Checkpoint(at.lines + lines, end, link(at.chain, data))
            self._chain.append(index, done)
            self._last = (index, done, self._chain.size())
        if self.after_publish is not None:
            self.after_publish(urgent)
        return lines

    def _prepare(self) -> Checkpoint:
        """Under the lock: the newest segment ends on a whole line and its chain covers all of it."""
        path = self._appender.sync_to_newest()
        index = self._appender.index
        last = self._last
        if (
            last is not None
            and last[0] == index
            and (self._appender.size(), self._chain.size()) == (last[1].end, last[2])
        ):
            return last[1]  # nobody wrote since this producer's last batch: it ended on its own checkpoint
        sidecar = chain_path(path)
        if sidecar.exists():
            repair_torn_tail(sidecar)  # a checkpoint cut short by a crash: its lines are chained below
        at = covered(self.paths.folder, INBOX, index)
        self._chain.open(index)  # exists before the first byte of its segment, so a kill cannot orphan data
        size = path.stat().st_size if path.exists() else 0
        if size < at.end:
            fault = truncated(path, size, at)
            raise CursorDesync(f"{self.paths.contract.name}/{fault}")
        self._repair_tail(path, at.end)
        size = path.stat().st_size
        if size > at.end:  # whole lines a killed producer appended but did not chain
            with path.open("rb") as fh:
                fh.seek(at.end)
                rest = fh.read(size - at.end)
            at = Checkpoint(at.lines + rest.count(b"\n"), size, link(at.chain, rest))
            self._chain.append(index, at)
        return at

    def _repair_tail(self, path: Path, floor: int) -> None:
        record = repair_and_describe(path, self.paths.contract.name, floor)
        if record is None:
            return
        self.repairs.append(record)
        line = encode_line(self.event("queue_recovery", record))
        with (self.paths.folder / f"{RECOVERY}.jsonl").open("ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def durable_ns(self) -> int | None:
        """`time.perf_counter_ns()` when every line published so far had completed the queue's fsync policy
        (None while some wait for their group commit)."""
        return self._appender.durable_ns()

    def flush_if_due(self) -> None:
        """Group commit tick: call from idle loops so the tail is fsynced within the interval."""
        self._appender.flush_if_due()
        self._chain.flush_if_due()

    def close(self) -> None:
        """Flush and release files."""
        self._appender.close()
        self._chain.close()
        self._lock_fh.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
