"""Reading framed journal lines: forward iteration across segments, and strict event decoding."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from minibot.contracts.codec import split_line
from minibot.contracts.envelope import validate_event
from minibot.contracts.registry import QueueContract
from minibot.journal.segments import list_segments, segment_path
from minibot.reasons import ContractViolation, JournalCorrupt, ReasonCode

_CHUNK = 1 << 20
_MIN_READ = 4096


@dataclass(frozen=True, slots=True)
class RawLine:
    """One whole line of a segmented journal and where it sits."""

    segment: int
    start: int
    end: int
    data: bytes


def iter_lines(folder: Path, stem: str, segment: int = 0, offset: int = 0) -> Iterator[RawLine]:
    """Whole lines from (segment, offset) to the end of the newest segment.

    A trailing partial line in the newest segment is not yielded (not yet published). A partial line at
    the end of an older segment means the journal is damaged: JournalCorrupt(LINE_TORN).
    """
    segments = [i for i, _ in list_segments(folder, stem) if i >= segment]
    for pos, index in enumerate(segments):
        path = segment_path(folder, stem, index)
        start = offset if index == segment else 0
        is_last = pos == len(segments) - 1
        with path.open("rb") as fh:
            fh.seek(start)
            rest = b""
            while True:
                # Sized to what is there (at least a little, for lines appended since the fstat): read(n)
                # allocates n bytes before it reads, and the metrics collector reads every queue each poll,
                # so 1 MB reads for a few KB of lines churn the C heap all night (issue 14, item 4).
                left = os.fstat(fh.fileno()).st_size - start - len(rest)
                chunk = fh.read(min(_CHUNK, max(left, _MIN_READ)))
                if not chunk:
                    break
                buf = rest + chunk
                begin = 0
                while True:
                    nl = buf.find(b"\n", begin)
                    if nl < 0:
                        break
                    yield RawLine(index, start + begin, start + nl + 1, buf[begin : nl + 1])
                    begin = nl + 1
                start += begin
                rest = buf[begin:]
            if rest and not is_last:
                raise JournalCorrupt(
                    f"{path.name} ({start}): segment ends inside a line but a newer segment exists",
                    ReasonCode.LINE_TORN,
                )


class _NonFinite(ValueError):
    pass


def _reject_constant(token: str) -> Any:
    raise _NonFinite(token)


def decode_json_strict(payload: bytes) -> Any:
    """orjson decode. NaN/Infinity or overflowing numbers: NON_FINITE_NUMBER; other errors: LINE_BAD_JSON."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        orjson_error = str(exc)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as uexc:
        raise JournalCorrupt(f"JSON is not valid UTF-8: {uexc}", ReasonCode.LINE_NOT_UTF8) from None
    try:
        json.loads(text, parse_constant=_reject_constant)
    except _NonFinite as nf:
        raise ContractViolation(f"JSON carries {nf}", ReasonCode.NON_FINITE_NUMBER) from None
    except ValueError:
        pass
    if "infinity" in orjson_error:
        raise ContractViolation(f"JSON number overflows: {orjson_error}", ReasonCode.NON_FINITE_NUMBER)
    raise JournalCorrupt(f"JSON does not parse: {orjson_error}", ReasonCode.LINE_BAD_JSON)


def decode_event(
    line: bytes,
    contract: QueueContract | None = None,
    *,
    run_id: str | None = None,
    cmdline_hash: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Verify framing + hash + JSON + envelope + payload (+ queue rules, run identity) of one line.

    Returns (sha256 hex, event). Raises JournalCorrupt (T2), ContractViolation (T1/T7).
    """
    digest, payload = split_line(line)
    event = decode_json_strict(payload)
    validate_event(event, contract)
    if run_id is not None and event["run_id"] != run_id:
        raise ContractViolation(
            f"event run_id {event['run_id']} is not this run's {run_id}", ReasonCode.RUN_ID_MISMATCH
        )
    if cmdline_hash is not None and event["cmdline_hash"] != cmdline_hash:
        raise ContractViolation(
            f"event cmdline_hash {event['cmdline_hash'][:12]}... is not this run's {cmdline_hash[:12]}...",
            ReasonCode.CMDLINE_HASH_MISMATCH,
        )
    return digest, event
