"""The cross-process lock the queues rely on: exclusive between two processes, and handed over in ms."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minibot.doctor.rows import DoctorContext, Row, Status
from minibot.journal.atomic import acquire_lock, file_lock, release_lock
from minibot.reasons import LockTimeout

HOLD_S = 0.5
SLOW_HANDOFF_S = 0.25  # the waiter retries every <= 10 ms: more than this is a lock that blocks in seconds
_HOLDER = """
import sys, time
from minibot.journal.atomic import file_lock
with file_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""
FIX = "reinstall with `py dev.py setup` (portalocker from requirements/lock.txt); keep --var on a local disk"


def check(ctx: DoctorContext) -> list[Row]:
    """Row `lock`: while another process holds the lock it cannot be taken here; once freed, it can at once."""
    ctx.var.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".doctor-lock-", dir=ctx.var) as tmp:
        path = Path(tmp) / "probe.lock"
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(path), str(HOLD_S)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            return [_probe(holder, path)]
        finally:
            if holder.poll() is None:
                holder.kill()
            holder.communicate(timeout=10)


def _probe(holder: subprocess.Popen[str], path: Path) -> Row:
    assert holder.stdout is not None
    if holder.stdout.readline().strip() != "held":
        return Row("lock", Status.FAIL, "a second process could not take the lock at all", FIX)
    freed_after = time.monotonic() + HOLD_S
    try:
        with file_lock(path, timeout_s=HOLD_S / 5):
            return Row("lock", Status.FAIL, "two processes held the queue lock at once", FIX)
    except LockTimeout:
        pass
    with open(path, "a+b") as fh:
        try:
            acquire_lock(fh, str(path), timeout_s=HOLD_S + 10.0)
        except LockTimeout:
            return Row("lock", Status.FAIL, "the lock was not released when its holder let go", FIX)
        handoff = max(0.0, time.monotonic() - freed_after)
        release_lock(fh)
    detail = f"exclusive across processes; taken {handoff * 1000:.0f} ms after the other process let go"
    if handoff > SLOW_HANDOFF_S:
        return Row("lock", Status.WARN, detail, "the machine is heavily loaded: close other programs for the night")
    return Row("lock", Status.OK, detail)
