"""`nore verify`, part 1: the journals of a run (R-T1, R-T2, R-T6, R-T7).

- every queue (lines, hashes, envelopes, payload schemas, producers, duplicate ids, acks, cursors,
  deadletters) through `minibot.journal.verify.verify_path`, and every other `*.jsonl` of the run (input
  logs, request journal, metrics snapshots, AI journals, recovery logs) through `verify_file`;
- identity across all of them: every event carries run.json's `run_id` and `cmdline_hash`, every id is
  unique in the whole run, and the journals contracts.v1.json lists carry only their declared types and
  producers.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from minibot.contracts.codec import split_line
from minibot.contracts.registry import registry
from minibot.journal.lineindex import repeats, uuid_value
from minibot.journal.verify import verify_file, verify_path
from minibot.metrics.verdict import Reasons
from minibot.reasons import NoreError, ReasonCode
from minibot.runlayout import INPUT_LOG_STEM, ROLES_DIR


def journal_files(run_dir: Path, queues_dir: Path) -> list[Path]:
    """Every `*.jsonl` of the run outside the queues folder, in a stable order."""
    return sorted(p for p in run_dir.rglob("*.jsonl") if queues_dir not in p.parents)


def check_integrity(run_dir: Path, queues_dir: Path, reasons: Reasons) -> int:
    """Queues and all other journals, line by line; returns how many lines were checked."""
    lines = 0
    if not queues_dir.is_dir():
        reasons.add(ReasonCode.INTERNAL_ERROR.value, f"{queues_dir}: the run has no queues folder")
    else:
        report = verify_path(queues_dir)
        lines += report.lines
        reasons.notes.extend(report.notes)
        for problem in report.problems:
            reasons.add(problem.reason_code, str(problem))
    for path in journal_files(run_dir, queues_dir):
        report = verify_file(path)
        lines += report.lines
        for problem in report.problems:
            reasons.add(problem.reason_code, str(problem))
    return lines


def _journal_rules(run_dir: Path, path: Path) -> tuple[frozenset[str], frozenset[str]] | None:
    """(types, producers) contracts.v1.json declares for the journal `path` belongs to, if any."""
    rel = path.relative_to(run_dir).as_posix()
    for name, entry in registry().document["journals"].items():
        if isinstance(entry.get("producers"), list):
            stem = name[: -len(".jsonl")]
            if rel == name or (rel.startswith(stem + ".") and rel.endswith(".jsonl")):
                return frozenset(entry["types"]), frozenset(entry["producers"])
    parts = path.relative_to(run_dir).parts
    if len(parts) == 3 and parts[0] == ROLES_DIR and parts[2].startswith(INPUT_LOG_STEM):
        return frozenset({"input_batch"}), frozenset({parts[1]})
    return None


def check_identity(run_dir: Path, queues_dir: Path, run: dict[str, Any], reasons: Reasons) -> None:
    """run_id / cmdline_hash of every event equal run.json's (R-T7); ids unique across the whole run.

    Lines that do not decode are skipped here: `check_integrity` reports them.
    """
    run_id, cmd_hash = run["run_id"], run["cmdline_hash"]
    files = [*sorted(p for p in queues_dir.rglob("*.jsonl")), *journal_files(run_dir, queues_dir)]
    hi: array[int] = array("Q")
    lo: array[int] = array("Q")
    where: array[int] = array("I")
    line_no: array[int] = array("I")
    for index, path in enumerate(files):
        rules = _journal_rules(run_dir, path)
        for n, line in _whole_lines(path):
            try:
                event = orjson.loads(split_line(line)[1])
                value = uuid_value(str(event["id"]))
            except (NoreError, orjson.JSONDecodeError, KeyError, TypeError):
                continue
            if value is None:
                continue  # an id out of the envelope's format is check_integrity's SCHEMA failure
            at = f"{path}:{n}"
            if event.get("run_id") != run_id:
                reasons.add(
                    ReasonCode.RUN_ID_MISMATCH.value, f"{at}: run_id {event.get('run_id')!r}, run.json has {run_id}"
                )
            if event.get("cmdline_hash") != cmd_hash:
                reasons.add(
                    ReasonCode.CMDLINE_HASH_MISMATCH.value,
                    f"{at}: cmdline_hash {str(event.get('cmdline_hash'))[:16]}..., run.json has {cmd_hash[:16]}...",
                )
            if rules is not None:
                if event.get("type") not in rules[0]:
                    reasons.add(
                        ReasonCode.TYPE_NOT_ALLOWED_ON_QUEUE.value, f"{at}: type {event.get('type')!r} not allowed"
                    )
                elif event.get("source") not in rules[1]:
                    reasons.add(ReasonCode.PRODUCER_NOT_ALLOWED.value, f"{at}: producer {event.get('source')!r}")
            hi.append(value >> 64)
            lo.append(value & ((1 << 64) - 1))
            where.append(index)
            line_no.append(n)
    _duplicates(files, hi, lo, where, line_no, reasons)


def _whole_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based number, line without its end) of each line that ends in a newline, read as the file goes (a
    segment is up to 64 MB); a torn last line is `check_integrity`'s."""
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if line.endswith(b"\n"):
                yield n, line[:-1]


def _duplicates(
    files: list[Path], hi: array[int], lo: array[int], where: array[int], line_no: array[int], reasons: Reasons
) -> None:
    """Ids seen twice in different files (duplicates inside one journal are `check_integrity`'s)."""
    h, low = np.frombuffer(hi, dtype=np.uint64), np.frombuffer(lo, dtype=np.uint64)
    for b, a in repeats(h, low):
        if files[where[a]].parent == files[where[b]].parent and _stem(files[where[a]]) == _stem(files[where[b]]):
            continue
        value = (int(hi[a]) << 64) | int(lo[a])
        ident = f"{value:032x}"
        ident = f"{ident[:8]}-{ident[8:12]}-{ident[12:16]}-{ident[16:20]}-{ident[20:]}"
        reasons.add(
            ReasonCode.DUPLICATE_ID.value,
            f"id {ident} at {files[where[a]]}:{line_no[a]} and {files[where[b]]}:{line_no[b]}",
        )


def _stem(path: Path) -> str:
    """Journal stem of a segment file: `inbox.000002.jsonl` -> `inbox`."""
    name = path.name[: -len(".jsonl")]
    head, _, tail = name.rpartition(".")
    return head if head and tail.isdigit() and len(tail) == 6 else name
