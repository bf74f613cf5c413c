"""The STOP primitive (R-P1, R-T): raise the flag every role polls, and journal the reason once.

Raising the flag rings every role's doorbell (minibot/journal/doorbell.py), so a waiting role sees it at
once; the safety-net poll bounds the reaction time if a ring is lost.

`stop()` works under one cross-process lock (`stop_journal/.stop.lock`), so any number of roles and
processes may raise STOPs at the same moment:

- The first STOP of a run writes `STOP.flag` (atomically, holding that event) *before* its journal line:
  the flag is the fail-closed part and must not depend on a journal write succeeding (a full disk fails
  the append with ENOSPC; the flag, a small atomic replace, is already there).
- Every distinct STOP (event id derived from run, component, reason and detail) is journaled exactly
  once: the lock holder looks for the id in `stop_journal` before appending, so repeating a STOP, from
  the same or another process, is a no-op. A later different STOP is journaled too; the flag keeps the
  first one (the cause).
- A journal append that fails (e.g. ENOSPC) is logged and leaves the flag up; `nore verify` then reports
  the flag's event missing from stop_journal, naming the reason the flag holds.
- The supervisor keeps `STOP.reserve` (RESERVE_BYTES) in the run folder while the run goes on. When the
  disk is so full that even the flag cannot be written, `stop()` deletes the reserve and tries again: the
  freed space is enough for the flag and the journal line. The reserve is released when the run ends.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
from pathlib import Path
from typing import Any

from minibot.ids import deterministic_id
from minibot.journal.atomic import file_lock, read_critical_json, write_critical_json
from minibot.journal.context import RunContext
from minibot.journal.doorbell import ring_all
from minibot.journal.layout import INBOX
from minibot.journal.reader import decode_event, iter_lines
from minibot.reasons import NoreError, ReasonCode
from minibot.runlayout import STOP_FLAG, STOP_LOCK, STOP_RESERVE

STOP_QUEUE = "stop_journal"
RESERVE_BYTES = 256 * 1024  # several file-system blocks: the flag, its temp file and one journal line
log = logging.getLogger("nore.stop")


def stop_flag_path(run_dir: Path) -> Path:
    """Where the run's STOP flag lives."""
    return Path(run_dir) / STOP_FLAG


@functools.lru_cache(maxsize=16)
def _flag_name(run_dir: Path) -> str:
    return str(stop_flag_path(run_dir))


def is_stopped(run_dir: Path) -> bool:
    """Cheap poll for every role: one stat (the path is built once per run folder)."""
    return os.path.exists(_flag_name(run_dir))


def read_stop(run_dir: Path) -> dict[str, Any]:
    """The stop event held by the flag (NonAtomicWrite if the flag is damaged)."""
    data: dict[str, Any] = read_critical_json(stop_flag_path(run_dir))
    return data


def unexpected_error_reason(exc: BaseException) -> ReasonCode:
    """The STOP reason of an error that escaped to a catch-all: a NoreError's own reason code (LOCK_TIMEOUT,
    FILE_REPLACE_FAILED...); a full disk (ENOSPC) is DISK_LOW, not a defect; anything else INTERNAL_ERROR."""
    if isinstance(exc, NoreError):
        return exc.reason_code
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return ReasonCode.DISK_LOW
    return ReasonCode.INTERNAL_ERROR


def reserve_stop_space(run_dir: Path) -> None:
    """Set disk space aside for a STOP on a full disk (real blocks: written, not a sparse file)."""
    path = Path(run_dir) / STOP_RESERVE
    with path.open("wb") as fh:
        fh.write(b"\0" * RESERVE_BYTES)
        fh.flush()
        os.fsync(fh.fileno())


def release_stop_space(run_dir: Path) -> bool:
    """Give the reserved space back; True when there was a reserve to release."""
    try:
        (Path(run_dir) / STOP_RESERVE).unlink()
    except FileNotFoundError:
        return False
    return True


def _raise_flag(flag: Path, event: dict[str, Any]) -> None:
    try:
        write_critical_json(flag, event)
    except OSError as exc:
        if not release_stop_space(flag.parent):
            raise
        log.error("disk full (%s): released the STOP reserve to raise STOP.flag", exc)
        write_critical_json(flag, event)


def journaled_stops(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """The stop events already in stop_journal by id (a damaged line is skipped: verify reports it)."""
    folder = ctx.queue_paths(STOP_QUEUE).folder
    ids: dict[str, dict[str, Any]] = {}
    try:
        for raw in iter_lines(folder, INBOX):
            try:
                event = decode_event(raw.data)[1]
            except NoreError:
                continue
            ids.setdefault(event["id"], event)
    except (NoreError, OSError):
        pass  # a torn or unreadable journal: appending is what remains to try
    return ids


def stop(
    ctx: RunContext,
    *,
    source: str,
    component: str,
    reason_code: ReasonCode,
    detail: str,
    injected: bool = False,
) -> dict[str, Any]:
    """Raise STOP.flag (first STOP only) and journal this STOP once; returns the stop event.

    `source` is the writing role. Safe to call concurrently from several processes.
    """
    event_id = deterministic_id(ctx.run_id, "stop", component, reason_code.value, detail)
    payload: dict[str, Any] = {"component": component, "reason_code": reason_code.value, "detail": detail[:3900]}
    if injected:
        payload["injected"] = True
    paths = ctx.queue_paths(STOP_QUEUE)
    paths.folder.mkdir(parents=True, exist_ok=True)
    producer = ctx.producer(STOP_QUEUE, source, fsync="always")
    try:
        event = producer.event(STOP_QUEUE, payload, id_=event_id)
        with file_lock(paths.folder / STOP_LOCK):
            flag = stop_flag_path(ctx.run_dir)
            if not flag.exists():
                _raise_flag(flag, event)
                ring_all(ctx.run_dir)  # every role halts now, not at its next safety-net poll
            earlier = journaled_stops(ctx).get(event_id)
            if earlier is not None:
                return earlier
            try:
                producer.publish([event])
            except OSError as exc:  # the flag is up; the missing line is what verify will name
                log.error("STOP %s raised but not journaled: %s", reason_code.value, exc)
    finally:
        producer.close()
    return event
