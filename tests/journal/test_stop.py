"""The STOP primitive (R-P1, R-T): journaled, flag raised atomically, idempotent, cheap to poll."""

from __future__ import annotations

from pathlib import Path

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_RUN_ID
from minibot.journal.context import RunContext
from minibot.journal.stop import is_stopped, read_stop, stop
from minibot.journal.verify import verify_path
from minibot.reasons import ReasonCode
from minibot.roles.runner import queue_events


def test_stop_journals_and_raises_the_flag_once(tmp_path: Path) -> None:
    ctx = RunContext(tmp_path, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342)
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
