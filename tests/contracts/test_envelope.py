"""`ts_iso`: the per-second cache gives exactly the text the datetime formatting gives, every millisecond.
`_has_non_finite`: its summing shortcut finds exactly the NaN and infinities a plain walk finds.
`encode_event`: refuses exactly the events holding a NaN or an infinity, wherever it is, as NON_FINITE_NUMBER."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minibot.contracts.codec import split_line
from minibot.contracts.envelope import _has_non_finite, build_envelope, encode_event, ts_iso
from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.ids import random_id
from minibot.reasons import ContractViolation, ReasonCode


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


def _plain_walk(value: Any) -> bool:
    if type(value) is float:
        return not math.isfinite(value)
    if type(value) is dict:
        return any(_plain_walk(v) for v in value.values())
    if type(value) in (list, tuple):
        return any(_plain_walk(v) for v in value)
    return False


_SCALARS = st.one_of(
    st.floats(),  # NaN and infinities included
    st.sampled_from([1.7e308, -1.7e308, 1e308]),  # finite, but two of them overflow a sum
    st.integers(),
    st.text(max_size=3),
    st.booleans(),
    st.none(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_VALUES)
def test_has_non_finite_finds_what_a_plain_walk_finds(value: Any) -> None:
    assert _has_non_finite(value) == _plain_walk(value)


def test_finite_values_whose_sum_overflows_are_not_refused() -> None:
    assert not _has_non_finite({"a": 1.7e308, "b": 1.7e308, "c": [1.7e308, 1.7e308]})
    assert _has_non_finite({"a": 1.7e308, "b": [1.0, (2.0, -math.inf)]})


def _tick(**changes: Any) -> dict[str, Any]:
    """A market tick envelope whose payload is the example's with `changes`."""
    return build_envelope(
        type_="market_tick",
        payload=dict(EXAMPLE_PAYLOADS["market_tick"], **changes),
        ts=1_723_161_255_343,
        id_=random_id(),
        source="market_role",
        run_id=EXAMPLE_RUN_ID,
        cmdline_hash=EXAMPLE_CMDLINE_HASH,
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_encode_event_refuses_a_non_finite_payload_number(bad: float) -> None:
    event = _tick(bid=bad)
    with pytest.raises(ContractViolation) as caught:
        encode_event(event)
    assert caught.value.reason_code is ReasonCode.NON_FINITE_NUMBER
    event["payload"]["bid"] = 61234.4
    assert encode_event(event).endswith(b"\n")


_JSON_INTS = st.integers(-(2**63), 2**64 - 1)  # what JSON (orjson) carries
_EXTRA = st.recursive(
    st.one_of(st.floats(), _JSON_INTS, st.sampled_from(["null", "a null", ""]), st.booleans(), st.none()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["n", "null"]), inner, max_size=3),
    max_leaves=12,
)


@given(_EXTRA)
def test_encode_event_refuses_exactly_the_events_holding_a_non_finite_number(extra: Any) -> None:
    """A payload field no schema describes (allowed: `additionalProperties`) passes validation whatever it holds,
    so only the look at the written JSON can find its NaN (orjson writes it as null, like None)."""
    event = _tick(extra=extra)
    if _plain_walk(extra):
        with pytest.raises(ContractViolation) as caught:
            encode_event(event)
        assert caught.value.reason_code is ReasonCode.NON_FINITE_NUMBER
    else:
        assert orjson.loads(split_line(encode_event(event))[1]) == event
