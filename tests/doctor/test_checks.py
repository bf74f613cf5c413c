"""The doctor's pure parts and single checks: rows and exit code, the disk estimate, the var folder's
OneDrive and write-failure rows, the lock probe, a check that breaks."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import portalocker
import pytest

from minibot.config.loader import load_config
from minibot.doctor import disk, lockcheck, python_env, varfolder
from minibot.doctor.checks import run_checks
from minibot.doctor.rows import DoctorContext, Row, Status, as_json, exit_code
from minibot.journal import atomic


def context(tmp_path: Path, **binance: object) -> DoctorContext:
    cfg = copy.deepcopy(load_config())
    cfg["binance"].update(binance)
    return DoctorContext(cfg, tmp_path / "var", "http://127.0.0.1:9", "ws://127.0.0.1:9", {})


def test_exit_code_and_json() -> None:
    rows = [Row("a", Status.OK, "fine"), Row("b", Status.WARN, "slow", "do x")]
    assert exit_code(rows) == 0 and as_json(rows)["ok"] is True
    rows.append(Row("c", Status.FAIL, "broken", "do y"))
    assert exit_code(rows) == 1
    doc = json.loads(json.dumps(as_json(rows)))
    assert doc["ok"] is False and doc["rows"][2] == {
        "check": "c",
        "status": "FAIL",
        "detail": "broken",
        "action": "do y",
    }
    assert rows[2].text() == "FAIL  c: broken\n      -> do y"


def test_disk_estimate_follows_symbols_streams_and_conflation(tmp_path: Path) -> None:
    shipped = disk.estimate(context(tmp_path).cfg)
    assert shipped.ticks_per_s == pytest.approx(2 * (20 + 4))  # 2 symbols x (aggTrade + 4 book ticks/s)
    assert shipped.night_bytes == pytest.approx(48 * 3600 * 7 * disk.BYTES_PER_TICK)
    four = disk.estimate(context(tmp_path, symbols=["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]).cfg)
    assert four.night_bytes == pytest.approx(2 * shipped.night_bytes)
    unconflated = disk.estimate(context(tmp_path, conflation_ms=0).cfg)
    assert unconflated.ticks_per_s == pytest.approx(2 * (20 + disk.BOOK_UPDATES_PER_S))
    trades_only = disk.estimate(context(tmp_path, streams=["trade"]).cfg)
    assert trades_only.ticks_per_s == pytest.approx(60)


def test_disk_fails_when_a_night_does_not_fit(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert disk.check(ctx)[0].status is Status.OK
    ctx.cfg["watchdog"]["disk_min_free_mb"] = 1 << 40  # more than any disk has: the run would STOP at once
    row = disk.check(ctx)[0]
    assert row.status is Status.FAIL and "free disk space" in row.action


def test_var_folder_in_onedrive_warns(tmp_path: Path) -> None:
    ctx = DoctorContext(load_config(), tmp_path / "OneDrive" / "var", "", "", {})
    rows = {r.check: r for r in varfolder.check(ctx)}
    assert rows["var sync"].status is Status.WARN and "inside OneDrive" in rows["var sync"].detail
    assert rows["var folder"].status is Status.OK


def test_var_folder_whose_replaces_are_refused_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(_src: object, _dst: object) -> None:
        raise PermissionError(13, "The process cannot access the file because it is being used")

    monkeypatch.setattr(atomic.os, "replace", refused)
    monkeypatch.setattr(atomic, "REPLACE_DEADLINE_S", 0.05)
    rows = {r.check: r for r in varfolder.check(context(tmp_path))}
    assert rows["var replace speed"].status is Status.FAIL
    assert "FILE_REPLACE_FAILED" in rows["var replace speed"].detail
    assert "Defender" in rows["var replace speed"].action


@pytest.mark.process
def test_lock_probe_ok_and_a_lock_that_excludes_nobody_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(tmp_path)
    assert [r.status for r in lockcheck.check(ctx)] == [Status.OK]
    # A lock call that takes nothing (as a broken locking backend would): both processes "hold" it.
    monkeypatch.setattr(portalocker, "lock", lambda _fh, _flags: None)
    monkeypatch.setattr(portalocker, "unlock", lambda _fh: None)
    row = lockcheck.check(ctx)[0]
    assert row.status is Status.FAIL and row.detail == "two processes held the queue lock at once"


def test_python_row_on_this_interpreter(tmp_path: Path) -> None:
    rows = python_env.check(context(tmp_path))
    assert [r.check for r in rows] == ["python", "venv"]
    assert rows[0].status is Status.OK


def test_a_broken_check_is_a_fail_row_and_the_others_still_run(tmp_path: Path) -> None:
    table = [("broken", "minibot.doctor.rows:summary"), ("python", "minibot.doctor.python_env:check")]
    rows = run_checks(context(tmp_path), table)
    assert rows[0].check == "broken" and rows[0].status is Status.FAIL
    assert "the check itself failed" in rows[0].detail
    assert [r.check for r in rows[1:]] == ["python", "venv"]
