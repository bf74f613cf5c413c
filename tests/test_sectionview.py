"""The one section -> dataclass mapping (minibot/sectionview.py): by field name, converted to the field's type,
nested, no defaults; an `int | float` field as written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from minibot.sectionview import build_view


@dataclass(frozen=True, slots=True)
class _Inner:
    seconds: float
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Outer:
    count: int
    port: int | None
    inner: _Inner
    table: Mapping[str, int]


def test_fields_are_read_by_name_and_converted_to_their_type() -> None:
    got = build_view(_Outer, {"count": 3.0, "port": None, "inner": {"seconds": 5, "names": ["a"]}, "table": {"x": 1}})
    assert got == _Outer(3, None, _Inner(5.0, ("a",)), got.table) and dict(got.table) == {"x": 1}
    assert type(got.count) is int and type(got.inner.seconds) is float
    assert (
        build_view(_Outer, {"count": 1, "port": 8080.0, "inner": {"seconds": 1, "names": []}, "table": {}}).port == 8080
    )


def test_extra_keys_are_ignored_and_a_missing_one_is_a_key_error() -> None:
    assert build_view(_Inner, {"seconds": 1, "names": [], "other": 1}) == _Inner(1.0, ())
    with pytest.raises(KeyError, match="names"):
        build_view(_Inner, {"seconds": 1})


@dataclass(frozen=True, slots=True)
class _AsWritten:
    threshold: int | float
    maybe: int | float | None


def test_an_int_or_float_field_keeps_the_number_as_written() -> None:
    """A value a core echoes into its outputs (a signal's `rsi_oversold`, a fee rate made a Decimal) keeps its
    JSON form: `30` stays an int, so the output bytes are those the config wrote."""
    got = build_view(_AsWritten, {"threshold": 30, "maybe": 2.5})
    assert type(got.threshold) is int and got.threshold == 30 and type(got.maybe) is float
    assert build_view(_AsWritten, {"threshold": 30.0, "maybe": None}) == _AsWritten(30.0, None)
    assert type(build_view(_AsWritten, {"threshold": 30.0, "maybe": None}).threshold) is float
