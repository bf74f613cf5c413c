"""Exact decimals as e8 integers (minibot/marketdata/num.py): Binance's 8-digit strings round-trip exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minibot.marketdata.num import E8, fmt8, fmt_pct, parse_e8, pow10_unit


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_fmt8_parse_roundtrip(value: int) -> None:
    text = fmt8(value)
    assert parse_e8(text) == value
    assert Decimal(text) == Decimal(value) / E8
    assert len(text.split(".")[1]) == 8


def test_parse_e8_rules() -> None:
    assert parse_e8("61837.63000000") == 6_183_763_000_000
    assert parse_e8("0.1038") == 10_380_000
    assert parse_e8("1.000000000") == E8  # a 9th digit that is zero is fine
    for bad in ("1e-5", "abc", "1.000000001", "", "1,5"):
        with pytest.raises(ValueError):
            parse_e8(bad)
    assert pow10_unit(6_183_763_000_000) == 1_000_000  # 0.01 ticks
    assert pow10_unit(141_342) == 1
    assert fmt_pct(-9_499_999_800, 9_900_000_000) == "-95.960"
