"""Atomic writes (R-P3, R-T3): a writer killed mid-write leaves old or new content; in-place writes are caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.gates.atomic_io_gate import kill_during_atomic_writes
from minibot.journal.atomic import (
    atomic_write_bytes,
    critical_json_bytes,
    read_critical_json,
    write_critical_json,
)
from minibot.reasons import NonAtomicWrite


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
    import portalocker

    from minibot.journal.atomic import file_lock

    lock_path = tmp_path / "x.lock"
    with file_lock(lock_path), pytest.raises(portalocker.LockException), file_lock(lock_path, timeout_s=0.2):
        pass
