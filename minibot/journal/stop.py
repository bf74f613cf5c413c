"""The STOP primitive (R-P1, R-T): journal the reason, then raise the flag every role polls.

`stop()` appends a `stop_journal` event and writes `STOP.flag` atomically, holding that event. It is
idempotent: the event id is derived from (run, component, reason, detail), so repeating the same STOP
changes nothing; a different later STOP is journaled too, while the flag keeps the first one (the cause).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minibot.ids import deterministic_id
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.context import RunContext
from minibot.reasons import ReasonCode

STOP_FLAG = "STOP.flag"


def stop_flag_path(run_dir: Path) -> Path:
    """Where the run's STOP flag lives."""
    return Path(run_dir) / STOP_FLAG


def is_stopped(run_dir: Path) -> bool:
    """Cheap poll for every role: one stat."""
    return stop_flag_path(run_dir).exists()


def read_stop(run_dir: Path) -> dict[str, Any]:
    """The stop event held by the flag (NonAtomicWrite if the flag is damaged)."""
    data: dict[str, Any] = read_critical_json(stop_flag_path(run_dir))
    return data


def stop(
    ctx: RunContext,
    *,
    source: str,
    component: str,
    reason_code: ReasonCode,
    detail: str,
    injected: bool = False,
) -> dict[str, Any]:
    """Journal a STOP and raise STOP.flag; returns the stop event. `source` is the writing role."""
    event_id = deterministic_id(ctx.run_id, "stop", component, reason_code.value, detail)
    flag = stop_flag_path(ctx.run_dir)
    if flag.exists():
        held = read_critical_json(flag)
        if held.get("id") == event_id:
            return dict(held)
    payload: dict[str, Any] = {
        "component": component,
        "reason_code": reason_code.value,
        "detail": detail[:3900],
    }
    if injected:
        payload["injected"] = True
    producer = ctx.producer("stop_journal", source, fsync="always")
    try:
        event = producer.event("stop_journal", payload, id_=event_id)
        producer.publish([event])
    finally:
        producer.close()
    if not flag.exists():
        write_critical_json(flag, event)
    return event
