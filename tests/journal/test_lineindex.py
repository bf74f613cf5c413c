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


# Per line: its id (None: it did not decode), whether it opens a new segment, and how far its start and its
# number stray from "right after the previous line" (a reader resuming mid-segment, a caller's own numbering).
LINES = st.lists(
    st.tuples(
        st.none() | st.sampled_from(POOL),
        st.booleans(),
        st.sampled_from([0, 0, 0, 0, 7]),
        st.sampled_from([0, 0, 0, 0, 2]),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(LINES, st.integers(-2, 70))
def test_positions_and_duplicates_are_what_a_dict_would_say(
    lines_in: list[tuple[str | None, bool, int, int]], probe: int
) -> None:
    lines = LineIndex()
    given_at: list[tuple[int, int, int]] = []  # (segment, line, start) as added
    positions: dict[int, tuple[int, int, str]] = {}
    last_seen: dict[str, int] = {}
    expected_dups: list[tuple[int, int]] = []
    segment, line, end = 0, 0, 0
    for n, (event_id, new_segment, gap, jump) in enumerate(lines_in):
        if new_segment and n:
            segment, line, end = segment + 1, 0, 0
        start, line = end + gap, line + 1 + jump
        end = start + 50 + n
        lines.add(segment, line, start, end, event_id)
        given_at.append((segment, line, start))
        if event_id is not None:
            positions[n] = (segment, end, event_id)
            if event_id in last_seen:
                expected_dups.append((n, last_seen[event_id]))
            last_seen[event_id] = n
    assert len(lines) == len(lines_in) and lines.valid == len(positions)
    assert lines.duplicates() == expected_dups
    assert [(lines.segment[n], lines.line_of(n), lines.start_of(n)) for n in range(len(lines))] == given_at
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
        lines.add(0, n + 1, n * 450, (n + 1) * 450, str(uuid.uuid4()))
    per_line = sum(c.itemsize * len(c) for c in (lines.segment, lines.end, lines.hi, lines.lo))
    assert per_line / len(lines) <= 32  # a dict entry with a tuple and the id's text was ~400
    assert not lines._starts and not lines._lines  # lines read one after the other need nothing kept apart
    assert lines.line_of(9_999) == 10_000 and lines.start_of(9_999) == 9_999 * 450
