"""`ts_iso`: the per-second cache gives exactly the text the datetime formatting gives, every millisecond."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from minibot.contracts.envelope import ts_iso


def _reference(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@given(st.integers(min_value=-86_400_000, max_value=4_102_444_800_000))  # 1969-12-31 .. 2100-01-01
def test_ts_iso_is_the_datetime_text(ts_ms: int) -> None:
    assert ts_iso(ts_ms) == _reference(ts_ms)


def test_ts_iso_across_second_boundaries() -> None:
    start = 1_764_319_998_990  # the same second from both sides, then the next one, then back again
    stamps = [*range(start, start + 30), start + 1_000, start - 5, start]
    assert [ts_iso(t) for t in stamps] == [_reference(t) for t in stamps]
    assert ts_iso(1_764_028_427_123) == "2025-11-24T23:53:47.123Z"
