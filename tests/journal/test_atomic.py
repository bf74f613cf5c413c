"""Atomic writes (R-P3, R-T3): a writer killed mid-write leaves old or new content; in-place writes are caught."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minibot.gates.atomic_io_gate import kill_during_atomic_writes
from minibot.journal import atomic
from minibot.journal.atomic import (
    acquire_lock,
    atomic_write_bytes,
    critical_json_bytes,
    file_lock,
    read_critical_json,
    release_lock,
    write_critical_json,
)
from minibot.reasons import LockTimeout, NonAtomicWrite, ReasonCode, ReplaceFailed


@pytest.mark.process
@pytest.mark.timeout(300)
def test_writer_killed_200_times_leaves_old_or_new(tmp_path: Path) -> None:
    assert kill_during_atomic_writes(tmp_path / "critical.json", 200, seed=3) == 200


def test_round_trip_and_no_temp_left(tmp_path: Path) -> None:
    target = tmp_path / "cursor.json"
    write_critical_json(target, {"line": 3, "price": 1.5})
    assert read_critical_json(target) == {"line": 3, "price": 1.5}
    atomic_write_bytes(tmp_path / "plain.bin", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cursor.json", "plain.bin"]


@pytest.mark.parametrize("cut", [1, 10, 40, 80, 95])
def test_torn_in_place_write_is_detected(tmp_path: Path, cut: int) -> None:
    target = tmp_path / "metrics.json"
    raw = critical_json_bytes({"ticks": 12345, "equity": 10000.5})
    target.write_bytes(raw[: len(raw) * cut // 100])
    with pytest.raises(NonAtomicWrite):
        read_critical_json(target)


def test_foreign_or_edited_content_is_detected(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    write_critical_json(target, {"a": 1})
    target.write_bytes(target.read_bytes().replace(b'"a":1', b'"a":2'))
    with pytest.raises(NonAtomicWrite, match="does not match"):
        read_critical_json(target)
    target.write_bytes(b'{"a": 1}')
    with pytest.raises(NonAtomicWrite, match="exactly 'sha256' and 'data'"):
        read_critical_json(target)


def test_file_lock_times_out_instead_of_waiting_forever(tmp_path: Path) -> None:
    lock_path = tmp_path / "x.lock"
    started = time.monotonic()
    with file_lock(lock_path), pytest.raises(LockTimeout, match=r"x\.lock") as exc, file_lock(lock_path, timeout_s=0.2):
        pass
    assert exc.value.reason_code is ReasonCode.LOCK_TIMEOUT
    assert 0.2 <= time.monotonic() - started < 1.0


@pytest.mark.process
def test_a_freed_lock_is_taken_within_milliseconds(tmp_path: Path) -> None:
    lock_path = tmp_path / "q.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock_path), "0.3"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with open(lock_path, "a+b") as fh:
        waited = acquire_lock(fh, "q.lock", timeout_s=10.0)
        release_lock(fh)
    assert holder.wait(10) == 0
    # the holder sleeps 0.3 s after saying so; the waiter sleeps at most LOCK_MAX_SLEEP_S between tries
    assert 0.15 < waited < 0.3 + 0.2


HOLD_LOCK = """
import sys, time
from minibot.journal.atomic import file_lock
with file_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


class SharingViolation:
    """`os.replace` refusing like Windows while another program holds the target, for `hold_s` seconds."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.first: float | None = None
        self.calls = 0

    def __call__(self, src: str | Path, dst: str | Path) -> None:
        self.calls += 1
        self.first = self.first if self.first is not None else time.monotonic()
        if time.monotonic() - self.first < self.hold_s:
            raise PermissionError(13, "The process cannot access the file because it is being used")
        REAL_REPLACE(src, dst)


REAL_REPLACE = os.replace


def test_replace_outlasts_a_held_target_of_several_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "cursor.json"
    write_critical_json(target, {"line": 1})
    held = SharingViolation(1.5)  # longer than the 1 s (50 x 20 ms) this used to allow
    monkeypatch.setattr(atomic.os, "replace", held)
    write_critical_json(target, {"line": 2})
    assert read_critical_json(target) == {"line": 2}
    assert held.calls < 20, "retries back off instead of spinning"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cursor.json"]


def test_a_critical_file_not_replaceable_in_time_is_a_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "cursor.json"
    write_critical_json(target, {"line": 1})
    monkeypatch.setattr(atomic.os, "replace", SharingViolation(3600))
    monkeypatch.setattr(atomic, "REPLACE_DEADLINE_S", 0.3)
    with pytest.raises(ReplaceFailed, match="exclude the var folder") as exc:
        write_critical_json(target, {"line": 2})
    assert exc.value.reason_code is ReasonCode.FILE_REPLACE_FAILED
    assert isinstance(exc.value, OSError)
    assert read_critical_json(target) == {"line": 1}, "the old content is untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cursor.json"], "no temp file left"


def test_a_directory_in_the_files_place_is_a_stop_at_once(tmp_path: Path) -> None:
    target = tmp_path / "cursor.json"
    target.mkdir()
    (target / "held").write_text("x")  # os.replace onto a non-empty folder: EISDIR here, access denied on Windows
    started = time.monotonic()
    with pytest.raises(ReplaceFailed, match=r"os\.replace failed \(Is a directory\)") as exc:
        write_critical_json(target, {"line": 2})
    assert time.monotonic() - started < 1.0, "not retried: waiting cannot help"
    assert exc.value.reason_code is ReasonCode.FILE_REPLACE_FAILED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cursor.json"], "no temp file left"


def test_a_best_effort_write_is_skipped_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "status.json"
    write_critical_json(target, {"state": "starting"})
    monkeypatch.setattr(atomic.os, "replace", SharingViolation(3600))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="nore.journal.atomic"):
        assert write_critical_json(target, {"state": "running"}, best_effort=True) is False
    assert atomic.BEST_EFFORT_DEADLINE_S <= time.monotonic() - started < atomic.BEST_EFFORT_DEADLINE_S + 1.0
    assert "status.json not written this time" in caplog.text
    assert read_critical_json(target) == {"state": "starting"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]
    monkeypatch.setattr(atomic.os, "replace", REAL_REPLACE)
    assert write_critical_json(target, {"state": "running"}, best_effort=True) is True
