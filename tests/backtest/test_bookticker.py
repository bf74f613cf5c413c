"""bookTicker recordings: validated in one pass, streamed in a second, the same numbers as the strict parser,
and never held in memory (a busy futures day is tens of millions of rows)."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minibot.backtest.bookticker import book_messages, read_book_file
from minibot.marketdata.datafiles import DataFileError
from minibot.marketdata.num import parse_e8

HEADER = "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time"
T0 = 1723161255000


def _write(path: Path, rows: list[str], header: bool = True) -> Path:
    path.write_text("\n".join(([HEADER] if header else []) + rows) + "\n")
    return path


_price = st.decimals(min_value="0.00000001", max_value="99999.99999999", places=8, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(_price, _price, _price, st.integers(0, 500), st.booleans(), st.booleans()), min_size=1),
    st.booleans(),
)
def test_streamed_rows_are_the_strict_parsers_numbers(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[object, ...]], header: bool
) -> None:
    lines, expected, t = [], [], T0
    for n, (bid, spread, qty, gap, micros, six_columns) in enumerate(rows):
        t += gap
        bid_text, ask_text = f"{bid:f}", f"{bid + spread:f}"  # type: ignore[operator]
        bq_text, aq_text = f"{qty:f}", f"{qty + 1:f}"  # type: ignore[operator]
        stamp = t * 1000 if micros else t
        line = f"{n},{bid_text},{bq_text},{ask_text},{aq_text},{stamp}" + ("" if six_columns else f",{stamp}")
        lines.append(line)
        numbers = (parse_e8(text) / 1e8 for text in (bid_text, bq_text, ask_text, aq_text))
        expected.append((t, *numbers, n))
    path = _write(tmp_path_factory.mktemp("bt") / "BTCUSDT-bookTicker-2024-08-08.csv", lines, header)
    bf = read_book_file(path)
    assert (bf.symbol, bf.rows, bf.first_bid) == ("BTCUSDT", len(rows), parse_e8(f"{rows[0][0]:f}"))
    got = [(ts, m.bid, m.bid_qty, m.ask, m.ask_qty, m.update_id) for ts, m in book_messages(bf, "backfill")]  # type: ignore[attr-defined]
    assert got == expected


def test_a_file_is_streamed_not_held(tmp_path: Path) -> None:
    rng = random.Random(5)
    rows = [
        f"{i},{61000 + rng.randint(0, 99) / 100:.2f},{rng.randint(1, 900) / 1000:.3f},61001.00,0.5,{T0 + 10 * i},{T0}"
        for i in range(200_000)
    ]
    bf = read_book_file(_write(tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv", rows))
    tracemalloc.start()
    try:
        seen = sum(1 for _ in book_messages(bf, "backfill"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 200_000
    assert peak < 2_000_000, f"{peak} bytes traced: the rows are held (they took ~46 MB as tuples)"


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        (f"2,61000.00,1.0,60999.00,1.0,{T0 + 5},{T0}", "not a sane book"),
        (f"2,61000.00,1.0,61000.10,1.0,{T0 - 5},{T0}", "time goes backwards"),
        (f"2,61000.00,abc,61000.10,1.0,{T0 + 5},{T0}", ":3:"),
        ("2,61000.00,1.0", "3 columns"),
    ],
)
def test_a_bad_row_is_named_by_file_and_line(tmp_path: Path, row: str, needle: str) -> None:
    path = _write(tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv", [f"1,61000.00,1.0,61000.10,1.0,{T0},{T0}", row])
    with pytest.raises(DataFileError, match=needle) as info:
        read_book_file(path)
    assert str(path) in str(info.value)


def test_a_file_changed_after_its_validation_fails_instead_of_trading_on_it(tmp_path: Path) -> None:
    good = [f"{i},61000.00,1.0,61000.10,1.0,{T0 + i},{T0}" for i in range(5)]
    path = _write(tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv", good)
    bf = read_book_file(path)
    _write(path, [*good[:2], f"2,61000.00,1.0,61000.10,1.0,{T0 - 60_000},{T0}", *good[3:]])
    with pytest.raises(DataFileError, match="changed since it was validated"):
        list(book_messages(bf, "backfill"))
    _write(path, good[:4])
    with pytest.raises(DataFileError, match="4 rows now, 5 when it was validated"):
        list(book_messages(bf, "backfill"))
