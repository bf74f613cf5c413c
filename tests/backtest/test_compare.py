"""How `nore replay` names the first difference between a recorded and a regenerated output."""

from __future__ import annotations

from minibot.backtest.compare import first_field_difference


def test_first_field_difference_names_the_field() -> None:
    a = {"id": "x", "payload": {"price": 1.5, "legs": [1, 2]}}
    assert first_field_difference(a, a) is None
    assert first_field_difference(a, {"id": "x", "payload": {"price": 1.6, "legs": [1, 2]}}) == (
        "expected payload.price = 1.5, got 1.6"
    )
    assert first_field_difference(a, {"id": "x", "payload": {"price": 1.5, "legs": [1, 3]}}) == (
        "expected payload.legs[1] = 2, got 3"
    )
    assert first_field_difference(a, {"id": "x", "payload": {"legs": [1, 2]}}) == (
        "expected payload.price = 1.5, got no payload.price"
    )
    assert first_field_difference({"v": 1}, {"v": 1.0}) == "expected v = 1, got 1.0"
