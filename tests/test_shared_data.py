"""The one locator of the shared recordings: a missing file fails the test with the path and the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import ENV_VAR, NAMED_FILES, SHARED_DATA, require, require_glob


def test_missing_data_is_a_failure_naming_the_path_and_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "binance" / "trades" / "BTCUSDT-trades.csv"
    with pytest.raises(pytest.fail.Exception) as failed:
        require(tmp_path, missing)
    assert str(missing) in str(failed.value) and ENV_VAR in str(failed.value)
    with pytest.raises(pytest.fail.Exception, match=ENV_VAR):
        require_glob(tmp_path, "*.csv")


def test_present_files_pass_and_globs_come_sorted(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", "c.txt"):
        (tmp_path / name).write_text("x")
    require(tmp_path, tmp_path / "a.csv")
    assert require_glob(tmp_path, "*.csv") == [tmp_path / "a.csv", tmp_path / "b.csv"]


def test_every_named_recording_lies_in_the_shared_folder() -> None:
    assert all(path.is_relative_to(SHARED_DATA / "binance") for path in NAMED_FILES)
