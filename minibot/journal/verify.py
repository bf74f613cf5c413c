"""Offline verification of journals and queues: every line, hash, schema, ids, hash chain, acks and cursors.

Used by `nore journal verify PATH` (a file or a queue folder) and by `nore verify RUN_DIR`. Problems are
reported as `file:line (byte offset): REASON_CODE detail` with 1-based line numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from minibot.contracts.codec import split_line
from minibot.contracts.registry import QueueContract, registry
from minibot.journal.atomic import read_critical_json
from minibot.journal.chain import ChainFault
from minibot.journal.chaincheck import SegmentCheck, verify_chain
from minibot.journal.cursor import Cursor, verify_position
from minibot.journal.layout import DEADLETTER, INBOX, QueuePaths
from minibot.journal.lineindex import LineIndex, id_value
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.segments import list_segments, segment_path
from minibot.reasons import NoreError, ReasonCode


@dataclass(frozen=True, slots=True)
class Problem:
    """One verification failure."""

    file: str
    line: int
    offset: int
    reason_code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} ({self.offset}): {self.reason_code} {self.detail}"


@dataclass
class Report:
    """What a verification found."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lines: int = 0
    files: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def add(self, file: Path | str, line: int, offset: int, code: str, detail: str) -> None:
        """Record one problem."""
        problem = Problem(str(file), line, offset, code, detail)
        if problem not in self.problems:  # the chain check locates a bad line the line check also found
            self.problems.append(problem)

    def add_chain(self, faults: list[ChainFault]) -> None:
        """Record what the hash chain check found (chaincheck.py)."""
        for fault in faults:
            self.add(fault.segment, fault.line, fault.offset, fault.error.reason_code.value, fault.error.detail)


def _scan(
    report: Report,
    folder: Path,
    stem: str,
    contract: QueueContract | None,
    lines: LineIndex,
) -> Iterator[tuple[int, Any, dict[str, Any]]]:
    """Yield (line index, raw line, event) for every valid line of a segmented journal; record problems, each
    line in `lines` and, once the journal is read, every id it repeats."""
    index = 0
    in_segment = (-1, 0)  # (segment, 1-based line within it) for messages
    segments = list_segments(folder, stem)
    report.files += len(segments)
    try:
        for raw in iter_lines(folder, stem):
            in_segment = (raw.segment, in_segment[1] + 1 if in_segment[0] == raw.segment else 1)
            report.lines += 1
            try:
                _, event = decode_event(raw.data, contract)
            except NoreError as exc:
                name = segment_path(folder, stem, raw.segment)
                report.add(name, in_segment[1], raw.start, exc.reason_code.value, exc.detail)
                lines.add(raw.segment, in_segment[1], raw.start, raw.end, None)
                index += 1
                continue
            lines.add(raw.segment, in_segment[1], raw.start, raw.end, event["id"])
            report.counts[event["type"]] = report.counts.get(event["type"], 0) + 1
            yield index, raw, event
            index += 1
    except NoreError as exc:
        report.add(folder / f"{stem}.jsonl", in_segment[1] + 1, 0, exc.reason_code.value, exc.detail)
    _report_duplicates(report, lines, lambda segment: segment_path(folder, stem, segment), True)
    if segments and not _ends_with_newline(segments[-1][1]):
        last = segments[-1][1]
        report.add(
            last,
            index + 1,
            last.read_bytes().rfind(b"\n") + 1,
            ReasonCode.LINE_TORN.value,
            "final line has no newline (torn append)",
        )


def _ends_with_newline(path: Path) -> bool:
    """Whether a file is empty or ends on a line end (reads its last byte only: segments reach 64 MB)."""
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        if not size:
            return True
        fh.seek(size - 1)
        return fh.read(1) == b"\n"


def _report_duplicates(report: Report, lines: LineIndex, path_of: Callable[[int], Path], segmented: bool) -> None:
    """One DUPLICATE_ID per line repeating an id, naming the previous line with it (a journal's lines were
    all read: `LineIndex.duplicates`). The id itself is read back from the file (rare: a defect)."""
    for later, earlier in lines.duplicates():
        path = path_of(lines.segment[later])
        start = lines.start_of(later)
        with path.open("rb") as fh:
            fh.seek(start)
            raw = fh.read(lines.end[later] - start)
        event_id = orjson.loads(split_line(raw)[1])["id"]
        before = path_of(lines.segment[earlier])
        where = f"{before.name}:{lines.line_of(earlier)}" if segmented else f"line {lines.line_of(earlier)}"
        report.add(
            path,
            lines.line_of(later),
            start,
            ReasonCode.DUPLICATE_ID.value,
            f"id {event_id} already at {where}",
        )


def verify_file(path: Path, report: Report | None = None) -> Report:
    """Verify one journal file (any segment of any journal): framing, hash, envelope, payload, ids."""
    report = report or Report()
    contract = registry().queues.get(path.parent.name) if path.name.startswith(INBOX) else None
    report.files += 1
    for _ in _scan_single(report, path, contract):
        pass
    index = next((i for i, p in list_segments(path.parent, INBOX) if p.name == path.name), None)
    if contract is not None and index is not None:  # a queue's inbox segment: its hash chain too
        check = SegmentCheck(path.parent, INBOX, index)
        while not check.done:
            _, fault = check.step(1 << 62)
            if fault is not None:
                report.add_chain([fault])
    return report


def _scan_single(
    report: Report, path: Path, contract: QueueContract | None
) -> Iterator[tuple[int, Any, dict[str, Any]]]:
    """`_scan` of one file (a segment, or a journal that is not segmented), read as it goes: an input log of a
    long night can be hundreds of MB."""
    lines = LineIndex()
    start = 0
    with path.open("rb") as fh:
        for index, line in enumerate(fh):
            if not line.endswith(b"\n"):
                report.add(
                    path, index + 1, start, ReasonCode.LINE_TORN.value, "final line has no newline (torn append)"
                )
                break
            end = start + len(line)
            report.lines += 1
            try:
                _, event = decode_event(line, contract)
            except NoreError as exc:
                report.add(path, index + 1, start, exc.reason_code.value, exc.detail)
                lines.add(0, index + 1, start, end, None)
            else:
                lines.add(0, index + 1, start, end, event["id"])
                report.counts[event["type"]] = report.counts.get(event["type"], 0) + 1
                yield index, line, event
            start = end
    _report_duplicates(report, lines, lambda _segment: path, False)


def verify_queue(folder: Path, report: Report | None = None) -> Report:
    """Verify a queue folder: inbox segments, deadletter, recovery log, every consumer's acks and cursor."""
    report = report or Report()
    paths = QueuePaths.of(folder.parent, folder.name)
    if not (folder / f"{INBOX}.jsonl").exists():
        # A queue nobody wrote to may lack files; one whose chain, acks or cursors name lines lost its inbox.
        held = sorted(p.name for p in folder.iterdir() if p.is_file() and _names_lines(p))
        if held:
            detail = f"the queue's inbox is missing although {', '.join(held)} hold data"
            report.add(folder / f"{INBOX}.jsonl", 0, 0, ReasonCode.CURSOR_DESYNC.value, detail)
    report.add_chain(verify_chain(folder))
    positions = LineIndex()
    for _ in _scan(report, folder, INBOX, paths.contract, positions):
        pass
    total = positions.valid
    dead = folder / f"{DEADLETTER}.jsonl"
    if dead.exists():
        for index, _line, event in _scan_single(report, dead, None):
            p = event["payload"]
            report.add(
                dead,
                index + 1,
                0,
                p["reason_code"],
                f"deadlettered {p['file']}:{p['line'] + 1} ({p['offset']}): {p['detail']}",
            )
    recovery = folder / "recovery.jsonl"
    if recovery.exists():
        for _ in _scan_single(report, recovery, None):
            pass
    for consumer in paths.contract.consumers:
        _verify_consumer(report, paths, consumer, positions, total)
    return report


def _names_lines(path: Path) -> bool:
    """Whether a queue file records that the queue has held lines (chain, acks, a cursor past line 0)."""
    if path.name.endswith(".chain") or path.name.startswith("acks"):
        return path.stat().st_size > 0
    if path.name.startswith("cursor"):
        try:
            return bool(read_critical_json(path)["line"])
        except (NoreError, KeyError, TypeError):
            return True  # a damaged cursor is reported by its consumer's check; it may well name lines
    return False


def _verify_consumer(report: Report, paths: QueuePaths, consumer: str, positions: LineIndex, total: int) -> None:
    stem = paths.acks_stem(consumer)
    expected_first = 0
    boundaries = {(0, 0): 0}  # (acks segment, offset) of each ack line -> the queue line it starts at
    for index, raw, event in _scan(report, paths.folder, stem, None, LineIndex()):
        p = event["payload"]
        boundaries[(raw.segment, raw.start)] = p.get("first_line")
        name = paths.folder / f"{stem}.jsonl"
        if event["type"] != "ack" or p["consumer"] != consumer:
            report.add(name, index + 1, 0, ReasonCode.ACKS_OUT_OF_ORDER.value, "not an ack of this consumer")
            continue
        if p["first_line"] != expected_first or p["last_line"] < p["first_line"]:
            report.add(
                name,
                index + 1,
                0,
                ReasonCode.ACKS_OUT_OF_ORDER.value,
                f"ack of lines {p['first_line']}..{p['last_line']}, expected to start at {expected_first}",
            )
        at = positions.position(p["last_line"])
        if at is None or at != (p["segment"], p["offset"], id_value(p["last_id"])):
            if at is None:
                has = "no such line"
            else:
                other = "" if at[2] == id_value(p["last_id"]) else " with another id"
                has = f"the line at segment {at[0]} offset {at[1]}{other}"
            report.add(
                name,
                index + 1,
                0,
                ReasonCode.CURSOR_DESYNC.value,
                f"ack names line {p['last_line']} at segment {p['segment']} offset {p['offset']} id "
                f"{p['last_id']}, the queue has {has}",
            )
        expected_first = p["last_line"] + 1
    cursor_path = paths.cursor(consumer)
    if not cursor_path.exists():
        return
    try:
        cursor = Cursor.from_dict(read_critical_json(cursor_path))
        verify_position(paths, cursor)
    except NoreError as exc:
        report.add(cursor_path, 1, 0, exc.reason_code.value, exc.detail)
        return
    if cursor.line < expected_first and boundaries.get((cursor.acks_segment, cursor.acks_offset)) == cursor.line:
        # A checkpoint older than the acks (group commit, or a crash before the cursor was rewritten): the
        # acks journal is the durable log and reopening the consumer rolls forward over the acks after it.
        report.notes.append(
            f"{cursor_path}: checkpoint at line {cursor.line}, its acks continue to line {expected_first}: "
            f"{consumer} resumes at line {expected_first} (rolled forward); nothing consumed was lost"
        )
    elif cursor.line != expected_first:
        report.add(
            cursor_path,
            1,
            0,
            ReasonCode.CURSOR_DESYNC.value,
            f"cursor at line {cursor.line} but acks end at line {expected_first}",
        )
    if cursor.line > total:
        report.add(
            cursor_path,
            1,
            0,
            ReasonCode.CURSOR_DESYNC.value,
            f"cursor at line {cursor.line} beyond the {total} lines of the queue",
        )


def verify_path(path: Path) -> Report:
    """A queue folder (has inbox.jsonl), a folder of queues, or a single journal file."""
    path = Path(path)
    if path.is_file():
        return verify_file(path)
    if (path / f"{INBOX}.jsonl").exists() or (path.is_dir() and path.name in registry().queues):
        return verify_queue(path)
    report = Report()
    if path.is_dir():
        queues = registry().queues
        for child in sorted(path.iterdir()):
            # A declared queue's folder is verified even without its inbox (a deleted inbox is reported).
            if (child / f"{INBOX}.jsonl").exists() or (child.is_dir() and child.name in queues):
                verify_queue(child, report)
        if report.files or report.problems:
            return report
    report.add(path, 0, 0, ReasonCode.INTERNAL_ERROR.value, "not a journal file, queue folder or folder of queues")
    return report
