"""Read-only, incremental reading of a segmented journal: the metrics collector's view of a queue.

The collector is not a consumer of most queues (contracts.v1.json names who is), so it never writes acks
or cursors: it remembers where it stopped (segment, byte offset) and reads the whole lines appended since.
A trailing partial line is not read (it is not published yet) and is picked up whole on a later call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minibot.contracts.registry import QueueContract
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.segments import segment_path
from minibot.reasons import NoreError


@dataclass(frozen=True, slots=True)
class SkippedLine:
    """A line the collector could not use (lenient mode only): where, and why."""

    file: str
    line: int
    reason_code: str
    detail: str


class JournalTail:
    """New events of one journal since the previous `read()`.

    strict=True (the live collector): a bad line raises its `NoreError`, with the file and line named, and
    the position stays before it. strict=False (`nore verify`, which reports bad lines itself): the line is
    recorded in `skipped` and reading goes on.
    """

    def __init__(
        self,
        folder: Path,
        stem: str,
        contract: QueueContract | None = None,
        *,
        run_id: str | None = None,
        cmdline_hash: str | None = None,
        strict: bool = True,
    ) -> None:
        self.folder = folder
        self.stem = stem
        self.contract = contract
        self.run_id = run_id
        self.cmdline_hash = cmdline_hash
        self.strict = strict
        self.segment = 0
        self.offset = 0
        self.lines = 0
        self.skipped: list[SkippedLine] = []
        self.broken = False

    def rewound(self) -> JournalTail:
        """A new tail of the same journal, at its first line (this one keeps its place)."""
        return JournalTail(
            self.folder,
            self.stem,
            self.contract,
            run_id=self.run_id,
            cmdline_hash=self.cmdline_hash,
            strict=self.strict,
        )

    def read(self) -> list[dict[str, Any]]:
        """Decode and return every whole line appended since the last call."""
        return list(self.events())

    def events(self) -> Iterator[dict[str, Any]]:
        """Every whole line appended since the last call, decoded one at a time: the position moves past
        each line as it is yielded, so a caller folding them holds one event, not a whole night's backlog."""
        if self.broken:
            return
        try:
            for raw in iter_lines(self.folder, self.stem, self.segment, self.offset):
                try:
                    _, event = decode_event(raw.data, self.contract, run_id=self.run_id, cmdline_hash=self.cmdline_hash)
                except NoreError as exc:
                    if self.strict:
                        raise type(exc)(f"{self._where(raw.segment)}: {exc.detail}", exc.reason_code) from None
                    self.skipped.append(
                        SkippedLine(str(self._where(raw.segment)), self.lines + 1, exc.reason_code.value, exc.detail)
                    )
                    event = None
                self.segment, self.offset = raw.segment, raw.end
                self.lines += 1
                if event is not None:
                    yield event
        except NoreError as exc:  # an older segment ends inside a line: nothing after it can be trusted
            if self.strict:
                raise
            self.skipped.append(
                SkippedLine(str(self.folder / self.stem), self.lines + 1, exc.reason_code.value, exc.detail)
            )
            self.broken = True

    def _where(self, segment: int) -> str:
        return f"{segment_path(self.folder, self.stem, segment)}:{self.lines + 1}"
