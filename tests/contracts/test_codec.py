"""The sha256 line codec (R-C1): round trip and single-byte corruption detection (hypothesis)."""

from __future__ import annotations

import hashlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minibot.contracts.codec import decode_line, encode_line, frame, frame_all, split_line
from minibot.reasons import JournalCorrupt, ReasonCode

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


@given(json_values)
def test_round_trip(value: object) -> None:
    line = encode_line(value)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_line(line) == value


@given(json_values)
def test_hash_covers_exactly_the_json_bytes(value: object) -> None:
    line = encode_line(value)
    json_bytes = orjson.dumps(value)
    assert line == b"sha256:" + hashlib.sha256(json_bytes).hexdigest().encode() + b":" + json_bytes + b"\n"


@settings(max_examples=300)
@given(json_values, st.data())
def test_flipping_any_single_byte_is_detected(value: object, data: st.DataObject) -> None:
    line = bytearray(encode_line(value))
    index = data.draw(st.integers(0, len(line) - 2))  # the newline itself is the line boundary
    bit = data.draw(st.integers(0, 7))
    line[index] ^= 1 << bit
    with pytest.raises(JournalCorrupt):
        decode_line(bytes(line))


def test_reason_codes_name_the_defect() -> None:
    good = encode_line({"a": 1})
    with pytest.raises(JournalCorrupt) as exc:
        split_line(b"sha257" + good[6:])
    assert exc.value.reason_code == ReasonCode.LINE_BAD_PREFIX
    with pytest.raises(JournalCorrupt) as exc:
        split_line(good.replace(b'"a"', b'"b"'))
    assert exc.value.reason_code == ReasonCode.LINE_HASH_MISMATCH
    upper = good[:7] + good[7:71].upper() + good[71:]
    with pytest.raises(JournalCorrupt) as exc:
        split_line(upper)
    assert exc.value.reason_code == ReasonCode.LINE_BAD_PREFIX


@given(
    st.lists(
        st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8), max_size=3),
        max_size=5,
    )
)
def test_frame_all_is_frame_of_each_joined(objs: list[dict[str, object]]) -> None:
    jsons = [orjson.dumps(o) for o in objs]
    assert frame_all(jsons) == b"".join(frame(j) for j in jsons)
    assert [decode_line(line) for line in frame_all(jsons).splitlines(keepends=True)] == objs
