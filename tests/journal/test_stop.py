"""The STOP primitive (R-P1, R-T): journaled, flag raised atomically, idempotent, cheap to poll."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_RUN_ID
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.stop import is_stopped, read_stop, reserve_stop_space, stop, unexpected_error_reason
from minibot.journal.verify import verify_path
from minibot.reasons import LockTimeout, NoreError, ReasonCode, ReplaceFailed
from minibot.roles.runner import queue_events
from minibot.runlayout import STOP_RESERVE
from tests.tmpfs import fill_up, small_fs

pytestmark = pytest.mark.process

RAISER = Path(__file__).with_name("stop_raiser.py")


def test_stop_journals_and_raises_the_flag_once(tmp_path: Path) -> None:
    ctx = RunContext(tmp_path, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, scratch_queues())
    assert not is_stopped(tmp_path)
    first = stop(
        ctx,
        source="watchdog_role",
        component="watchdog_role",
        reason_code=ReasonCode.DISK_LOW,
        detail="12 MB free < 500 MB",
    )
    assert is_stopped(tmp_path)
    assert read_stop(tmp_path) == first
    again = stop(
        ctx,
        source="watchdog_role",
        component="watchdog_role",
        reason_code=ReasonCode.DISK_LOW,
        detail="12 MB free < 500 MB",
    )
    assert again == first
    later = stop(
        ctx,
        source="risk_role",
        component="risk_role",
        reason_code=ReasonCode.RISK_MAX_DRAWDOWN,
        detail="drawdown 6% > 5%",
        injected=True,
    )
    events = list(queue_events(ctx, "stop_journal"))
    assert [e["id"] for e in events] == [first["id"], later["id"]]
    assert events[1]["payload"]["injected"] is True
    assert read_stop(tmp_path)["payload"]["reason_code"] == "DISK_LOW"  # the flag keeps the cause
    assert verify_path(ctx.queues_dir).ok


def _ctx(run_dir: Path) -> RunContext:
    return RunContext(run_dir, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, scratch_queues())


def _raise(ctx: RunContext, code: ReasonCode, source: str = "watchdog_role") -> dict[str, Any]:
    return stop(ctx, source=source, component="watchdog_role", reason_code=code, detail=f"{code.value} seen")


def test_every_later_stop_is_journaled_once(tmp_path: Path) -> None:
    """Issue 13 defect 5: stop(A), stop(B), stop(B) wrote three lines and verify said DUPLICATE_ID."""
    ctx = _ctx(tmp_path)
    a = _raise(ctx, ReasonCode.DISK_LOW)
    b = _raise(ctx, ReasonCode.CURSOR_DESYNC)
    again = _raise(ctx, ReasonCode.CURSOR_DESYNC, source="risk_role")
    assert again == b
    assert _raise(ctx, ReasonCode.DISK_LOW) == a
    assert [e["id"] for e in queue_events(ctx, "stop_journal")] == [a["id"], b["id"]]
    assert read_stop(tmp_path) == a
    assert verify_path(ctx.queues_dir).ok


def test_concurrent_processes_raising_the_same_stops_journal_each_once(tmp_path: Path) -> None:
    codes = [ReasonCode.DISK_LOW.value, ReasonCode.CURSOR_DESYNC.value, ReasonCode.CONSUMER_LAG.value]
    roles = ["watchdog_role", "risk_role", "execution_role", "market_role", "strategy_role", "ai_role"]
    procs = [
        subprocess.Popen([sys.executable, str(RAISER), str(tmp_path), role, *codes[i % 3 :], *codes[: i % 3]])
        for i, role in enumerate(roles)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready.*"))) < len(roles) and time.monotonic() < deadline:
            time.sleep(0.02)
        (tmp_path / "go").touch()
        assert all(p.wait(timeout=60) == 0 for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    events = list(queue_events(_ctx(tmp_path), "stop_journal"))
    assert sorted(e["payload"]["reason_code"] for e in events) == sorted(codes)
    assert read_stop(tmp_path)["id"] == events[0]["id"]  # the flag holds the first journaled STOP
    assert verify_path(_ctx(tmp_path).queues_dir).ok


def test_flag_is_raised_even_when_the_journal_write_fails(tmp_path: Path) -> None:
    """Issue 13 defect 4: with the disk full the append fails; the flag must not depend on it."""
    ctx = _ctx(tmp_path)
    inbox = ctx.queue_paths("stop_journal").folder / "inbox.jsonl"
    inbox.mkdir(parents=True)  # appending to it fails with an OSError, as ENOSPC would
    event = _raise(ctx, ReasonCode.DISK_LOW)
    assert is_stopped(tmp_path)
    assert read_stop(tmp_path) == event
    assert read_stop(tmp_path)["payload"]["reason_code"] == "DISK_LOW"


def test_on_a_full_disk_the_reserve_makes_room_for_the_flag(tmp_path: Path) -> None:
    with small_fs(tmp_path / "fs", "1m") as fs:
        ctx = _ctx(fs)
        ctx.queue_paths("stop_journal").create()
        reserve_stop_space(fs)
        fill_up(fs, 0)
        assert os.statvfs(fs).f_bavail == 0  # not even the flag's temp file fits without the reserve
        event = _raise(ctx, ReasonCode.DISK_LOW)
        assert read_stop(fs) == event and not (fs / STOP_RESERVE).exists()
        assert [e["id"] for e in queue_events(ctx, "stop_journal")] == [event["id"]]
        assert verify_path(ctx.queues_dir).ok


def test_unexpected_errors_name_a_full_disk() -> None:
    assert unexpected_error_reason(OSError(errno.ENOSPC, "No space left on device")) == ReasonCode.DISK_LOW
    assert unexpected_error_reason(OSError(errno.EIO, "I/O error")) == ReasonCode.INTERNAL_ERROR
    assert unexpected_error_reason(ValueError("x")) == ReasonCode.INTERNAL_ERROR


def test_a_typed_error_keeps_its_own_reason() -> None:
    assert unexpected_error_reason(ReplaceFailed("cursor.json")) == ReasonCode.FILE_REPLACE_FAILED
    assert unexpected_error_reason(LockTimeout("health/.lock")) == ReasonCode.LOCK_TIMEOUT
    assert unexpected_error_reason(NoreError("x", ReasonCode.DISK_LOW)) == ReasonCode.DISK_LOW
