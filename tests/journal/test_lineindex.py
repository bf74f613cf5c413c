"""LineIndex, the compact per-line record `nore verify` keeps, against the dict of tuples it replaced."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from minibot.journal.lineindex import LineIndex, id_value

# Random-looking ids, ids equal in their first 64 bits (a backtest's sequential tick ids) or in their last 64,
# and text that is not a UUID.
POOL = [
    *(str(uuid.UUID(int=n * 0x9E3779B97F4A7C15, version=4)) for n in range(6)),
    "0f1e2d3c-4b5a-4697-8877-000000000001",
    "0f1e2d3c-4b5a-4697-8877-000000000002",
    "1f1e2d3c-4b5a-4697-8877-000000000002",
    "not-a-uuid",
    "x" * 36,
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.sampled_from(POOL), max_size=60), st.integers(-2, 70))
def test_positions_and_duplicates_are_what_a_dict_would_say(ids: list[str | None], probe: int) -> None:
    lines = LineIndex()
    positions: dict[int, tuple[int, int, str]] = {}
    last_seen: dict[str, int] = {}
    expected_dups: list[tuple[int, int]] = []
    for n, event_id in enumerate(ids):
        segment, end = n // 7, 100 * n + 99
        lines.add(segment, n % 7 + 1, 100 * n, end, event_id)
        if event_id is not None:
            positions[n] = (segment, end, event_id)
            if event_id in last_seen:
                expected_dups.append((n, last_seen[event_id]))
            last_seen[event_id] = n
    assert len(lines) == len(ids) and lines.valid == len(positions)
    assert lines.duplicates() == expected_dups
    want = positions.get(probe)
    assert lines.position(probe) == (None if want is None else (want[0], want[1], id_value(want[2])))


def test_an_envelope_id_is_its_own_128_bits_and_other_text_a_digest() -> None:
    some = str(uuid.uuid4())
    assert id_value(some) == uuid.UUID(some).int
    assert id_value("not-a-uuid") != id_value("not-a-uuid!") and 0 <= id_value("not-a-uuid") < 1 << 128
    assert id_value("0" * 36) != 0  # 36 characters that are not a UUID's layout: digested, not parsed


def test_a_line_costs_a_few_dozen_bytes() -> None:
    lines = LineIndex()
    for n in range(10_000):
        lines.add(0, n + 1, n * 450, n * 450 + 449, str(uuid.uuid4()))
    per_line = sum(c.itemsize * len(c) for c in (lines.segment, lines.line, lines.start, lines.end, lines.hi, lines.lo))
    assert per_line / len(lines) <= 48  # a dict entry with a tuple and the id's text was ~400
