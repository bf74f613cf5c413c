"""The var folder: creatable and writable, not synced by OneDrive, and fast enough at write + os.replace.

A night replaces small critical files (cursors, metrics, portfolio) tens of times a second; on Windows a
scanner or sync tool that opens each new file slows every replace or refuses it for a while. The check
times the same atomic write the run uses: without fsync (cursors under a group-commit policy) for the rate,
and with fsync (the `always` queues) for the latency.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from minibot.doctor.rows import DoctorContext, Row, Status
from minibot.journal.atomic import write_critical_json
from minibot.watchdog.varpath import default_var, onedrive_warning

REPLACES = 200
FSYNCED = 20
# A night at 1x replaces ~50 small files a second (cursors, most without fsync): want several times that.
MIN_REPLACES_PER_S = 250.0
SLOW_REPLACE_MS = 100.0  # one write + replace slower than this is a scanner holding files, not the disk
SLOW_FSYNC_MS = 50.0  # median of an fsync'ed write (the `always` queues: fills, orders, STOP journal)
SCANNERS = "exclude the var folder from Defender real-time scanning, the search indexer and OneDrive"


def check(ctx: DoctorContext) -> list[Row]:
    """Rows `var folder`, `var sync`, `var replace speed` and `var fsync`."""
    try:
        ctx.var.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [Row("var folder", Status.FAIL, f"{ctx.var} cannot be created: {exc}", "pass a writable --var")]
    rows = [Row("var folder", Status.OK, f"{ctx.var.resolve()} is writable")]
    synced = onedrive_warning(ctx.var, ctx.env)
    if synced is None:
        rows.append(Row("var sync", Status.OK, "not inside OneDrive"))
    else:
        rows.append(Row("var sync", Status.WARN, synced, f"run with --var {default_var(ctx.env)}"))
    probe = Path(tempfile.mkdtemp(prefix=".doctor-", dir=ctx.var))
    try:
        rows += [_replace_speed(probe), _fsync_speed(probe)]
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return rows


def _timed_writes(folder: Path, count: int, fsync: bool) -> list[float]:
    """Milliseconds of each of `count` atomic critical-JSON writes of one file (the cursor pattern)."""
    durations = []
    for n in range(count):
        started = time.perf_counter()
        write_critical_json(folder / "cursor.json", {"line": n, "id": "x" * 32}, fsync=fsync)
        durations.append((time.perf_counter() - started) * 1000.0)
    return durations


def _failed(name: str, exc: OSError) -> Row:
    return Row(name, Status.FAIL, f"an atomic write failed: {exc}", f"{SCANNERS}, or pick another --var")


def _replace_speed(folder: Path) -> Row:
    try:
        durations = _timed_writes(folder, REPLACES, fsync=False)
    except OSError as exc:
        return _failed("var replace speed", exc)
    rate = len(durations) / (sum(durations) / 1000.0)
    worst = max(durations)
    detail = f"{REPLACES} write+replace: {rate:,.0f}/s, slowest {worst:.1f} ms"
    if rate < MIN_REPLACES_PER_S or worst > SLOW_REPLACE_MS:
        want = f"want >= {MIN_REPLACES_PER_S:.0f}/s and none over {SLOW_REPLACE_MS:.0f} ms"
        return Row("var replace speed", Status.WARN, f"{detail} ({want})", SCANNERS)
    return Row("var replace speed", Status.OK, detail)


def _fsync_speed(folder: Path) -> Row:
    try:
        durations = _timed_writes(folder, FSYNCED, fsync=True)
    except OSError as exc:
        return _failed("var fsync", exc)
    median = statistics.median(durations)
    detail = f"{FSYNCED} fsync'ed write+replace: median {median:.1f} ms, slowest {max(durations):.1f} ms"
    if median > SLOW_FSYNC_MS:
        return Row("var fsync", Status.WARN, f"{detail} (want a median under {SLOW_FSYNC_MS:.0f} ms)", SCANNERS)
    return Row("var fsync", Status.OK, detail)
