"""The backtest's fast row reader gives exactly the simulator's strict parse (`iter_rows`), and names the
file and line of a row that went bad after the up-front validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.backtest.recordings import E8, _fast_rows
from minibot.marketdata.datafiles import DataFileError, iter_rows, scan
from tests.shared_data import AGG_TRADES_DIR, TRADES_DIR, require_glob


def _strict(path: Path) -> list[tuple[object, ...]]:
    return [(r[0], r[1] / E8, r[2] / E8, *r[3:]) for r in iter_rows(scan(path))]


def test_fast_rows_equal_the_strict_parse_on_real_files() -> None:
    for path in require_glob(AGG_TRADES_DIR, "*.csv") + require_glob(TRADES_DIR, "*.csv"):
        assert list(_fast_rows(scan(path))) == _strict(path), path


def test_fast_rows_take_odd_but_valid_rows_through_the_strict_parser(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-trades-2024-08-08.csv"
    path.write_text(
        "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n"
        "1,61837.63000000,0.00100000,61.83763,1723161240000000,True,True\n"
        "\n"
        "2, 61837.64 ,0.002,123.67528,1723161240001,false,True\r\n"
        "3,61837.7,0.0000000100,0.1,1723161240002,False,True\n"
    )
    rows = list(_fast_rows(scan(path)))
    assert rows == _strict(path)
    assert rows[0][3] == 1723161240000 and rows[1][1] == 61837.64 and rows[2][2] == 1e-8


def test_a_row_damaged_after_validation_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-trades-2024-08-08.csv"
    path.write_text("1,10.5,1,10.5,1723161240000,True,True\n2,10.6,1,10.6,1723161240001,True,True\n")
    df = scan(path)
    path.write_text("1,10.5,1,10.5,1723161240000,True,True\n2,10.6,1,10.6,1723161240001,maybe,True\n")
    with pytest.raises(DataFileError, match=r"BTCUSDT-trades-2024-08-08.csv:2: not a boolean"):
        list(_fast_rows(df))
