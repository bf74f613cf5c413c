"""Opt-in tracemalloc reports: off by default, a growth report naming the growing line when on."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from minibot.memtrace import DIR_ENV, INTERVAL_ENV, growth_report, start_from_env


def test_off_unless_the_folder_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DIR_ENV, raising=False)
    assert start_from_env("strategy_role") is None


def test_a_bad_interval_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DIR_ENV, str(tmp_path))
    monkeypatch.setenv(INTERVAL_ENV, "0")
    with pytest.raises(ValueError, match="> 0"):
        start_from_env("strategy_role")


def test_report_names_what_grew(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DIR_ENV, str(tmp_path))
    monkeypatch.setenv(INTERVAL_ENV, "3600")  # the test takes the snapshots itself
    trace = start_from_env("strategy_role")
    assert trace is not None
    trace.write()  # the baseline
    hoard = [bytes(1000) + bytes([n % 256]) for n in range(3000)]  # ~3 MB that stays
    trace.stop()
    text = trace.path.read_text(encoding="utf-8")
    assert trace.path.name.startswith("strategy_role-") and not tracemalloc.is_tracing()
    lines = text.splitlines()
    assert lines[1].startswith("+3."), text[:400]  # the biggest growth is the hoard ...
    assert "test_memtrace.py" in "\n".join(lines[2:6]), text[:400]  # ... and its traceback names this file
    assert len(hoard) == 3000


def test_growth_report_of_equal_snapshots_is_zero() -> None:
    tracemalloc.start(1)
    try:
        snap = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert growth_report(snap, snap).startswith("total growth +0.00 MB")
