"""`verify_file` on a journal that is not segmented (an input log): read as it goes, every line checked."""

from __future__ import annotations

from pathlib import Path

from minibot.contracts.envelope import build_envelope, encode_event
from minibot.ids import random_id
from minibot.journal.verify import verify_file


def _line(event_id: str, uptime_s: float) -> bytes:
    payload = {"role": "risk_role", "state": "OK", "uptime_s": uptime_s, "pid": 4242}
    return encode_event(
        build_envelope(
            type_="health",
            payload=payload,
            ts=1_795_983_815_873,
            id_=event_id,
            source="risk_role",
            run_id="20261129_202334",
            cmdline_hash="0" * 64,
        )
    )


def test_a_repeated_id_a_bad_line_and_a_torn_end_are_each_named_by_line_and_offset(tmp_path: Path) -> None:
    first, second = random_id(), random_id()
    lines = [_line(first, 1.0), _line(second, 2.0), b"not a journal line\n", _line(first, 3.0), _line(second, 4.0)]
    torn = _line(random_id(), 5.0)[:-30]
    path = tmp_path / "inputs.jsonl"
    path.write_bytes(b"".join(lines) + torn)
    starts = [sum(len(line) for line in lines[:n]) for n in range(len(lines) + 1)]

    report = verify_file(path)

    assert report.lines == 5 and report.counts == {"health": 4}
    found = sorted((p.line, p.offset, p.reason_code, p.detail) for p in report.problems)
    assert [(line, offset, code) for line, offset, code, _ in found] == [
        (3, starts[2], found[0][2]),
        (4, starts[3], "DUPLICATE_ID"),
        (5, starts[4], "DUPLICATE_ID"),
        (6, starts[5], "LINE_TORN"),
    ]
    assert found[0][2] != "DUPLICATE_ID"  # the bad line: its framing's reason, not an id's
    assert found[1][3] == f"id {first} already at line 1"
    assert found[2][3] == f"id {second} already at line 2"
