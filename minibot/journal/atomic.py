"""Atomic file writes, cross-process locks and self-verifying critical JSON files (R-P3, R-T3, R-Q4).

`atomic_write_bytes`: temp file in the same folder -> write -> flush -> fsync -> `os.replace` -> fsync of the
folder (POSIX only; Windows cannot open a directory for fsync). On Windows a reader holding the target open
(our own readers, Defender, the search indexer, OneDrive) makes `os.replace` fail with a sharing violation
for a while, so it is retried with backoff up to a deadline (~10 s) before `ReplaceFailed`. Files that only
show progress (status.json, pid files, metrics between ends) are written `best_effort`: a short deadline, and
a miss is logged instead of raised.

`file_lock` / `held_lock`: exclusive cross-process locks taken with non-blocking tries and millisecond sleeps
up to a deadline. A blocking lock is never used: on Windows portalocker falls back to `msvcrt.locking`, whose
blocking mode sleeps a whole second per failed try and gives up after ten, which turns every contention
between the roles into a one-second stall and a busy queue into a STOP. `portalocker[win32]` (pywin32's
LockFileEx) would wait in the kernel instead, but with no deadline at all, through a large Windows-only
dependency; non-blocking tries give millisecond waits and a deadline with the same code on every platform,
so the code CI runs is the code Windows runs.

Critical JSON files (cursor, metrics, run.json, active model pointer, portfolio snapshot) are written as
`{"sha256": <hex of the canonical data bytes>, "data": ...}`: a torn, partial or foreign (in-place) write
no longer matches its own hash and `read_critical_json` raises `NonAtomicWrite` (a T3 STOP).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import portalocker

from minibot.reasons import LockTimeout, NonAtomicWrite, ReplaceFailed

REPLACE_DEADLINE_S = 10.0  # a critical file not replaceable for this long is a STOP (FILE_REPLACE_FAILED)
BEST_EFFORT_DEADLINE_S = 1.0  # a progress file is skipped sooner: the supervisor's loop must not wait on it
REPLACE_FIRST_SLEEP_S = 0.005
REPLACE_MAX_SLEEP_S = 0.5
LOCK_TIMEOUT_S = 30.0
LOCK_FIRST_SLEEP_S = 0.0005
LOCK_MAX_SLEEP_S = 0.01  # the longest a waiter sleeps between tries: the lock is noticed free within ~10 ms
_CANONICAL = orjson.OPT_SORT_KEYS
log = logging.getLogger("nore.journal.atomic")


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX). Windows has no directory handles to fsync."""
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_with_retry(src: Path, dst: Path, deadline_s: float = REPLACE_DEADLINE_S) -> None:
    """`os.replace` retried on PermissionError (a Windows sharing violation) with backoff until `deadline_s`.

    Raises `ReplaceFailed` (a STOP reason, and still an OSError) when the target stays held that long, and
    at once for any other failure but a full disk (ENOSPC stays an OSError: DISK_LOW).
    """
    give_up = time.monotonic() + deadline_s
    sleep_s = REPLACE_FIRST_SLEEP_S
    attempts = 0
    while True:
        attempts += 1
        try:
            os.replace(src, dst)
            return
        except PermissionError as exc:
            left = give_up - time.monotonic()
            if left <= 0:
                raise ReplaceFailed(
                    f"{dst}: os.replace refused {attempts} times over {deadline_s:.1f} s ({exc}); another program "
                    "(antivirus, indexer, OneDrive) keeps it open: exclude the var folder from them"
                ) from exc
            time.sleep(min(sleep_s, left))
            sleep_s = min(sleep_s * 2, REPLACE_MAX_SLEEP_S)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:  # a full disk is DISK_LOW, not this file's fault
                raise
            # Not transient (e.g. the destination is a directory, which Windows reports as access denied,
            # so it ends here too after the retries): the file cannot be replaced, waiting will not help.
            raise ReplaceFailed(f"{dst}: os.replace failed ({exc.strerror or exc})") from exc


def atomic_write_bytes(path: Path | str, data: bytes, *, fsync: bool = True, best_effort: bool = False) -> bool:
    """Replace `path` with `data` so that readers see the old or the new content, never a mix.

    `fsync=False` skips the flushes to stable storage (still atomic against concurrent readers, not
    against power loss); only callers with a documented `none` fsync policy pass it. `best_effort=True`
    (progress files only) gives up after `BEST_EFFORT_DEADLINE_S` and logs instead of raising. Returns
    whether the file was written.
    """
    target = Path(path)
    folder = target.parent
    try:
        _write_and_replace(target, data, fsync, BEST_EFFORT_DEADLINE_S if best_effort else REPLACE_DEADLINE_S)
    except OSError as exc:
        if not best_effort:
            raise
        log.warning("%s not written this time (best effort): %s", target, exc)
        return False
    if fsync:
        fsync_dir(folder)
    return True


def _write_and_replace(target: Path, data: bytes, fsync: bool, deadline_s: float) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        replace_with_retry(tmp, target, deadline_s)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def canonical_bytes(data: Any) -> bytes:
    """The bytes a critical file's hash covers: compact JSON with sorted keys."""
    return orjson.dumps(data, option=_CANONICAL)


def critical_json_bytes(data: Any) -> bytes:
    """Serialize `data` as a self-verifying critical JSON document."""
    body = canonical_bytes(data)
    digest = hashlib.sha256(body).hexdigest()
    return b'{"sha256":"' + digest.encode() + b'","data":' + body + b"}\n"


def write_critical_json(path: Path | str, data: Any, *, fsync: bool = True, best_effort: bool = False) -> bool:
    """Atomically write `data` as a critical JSON file carrying its own sha256 (see `atomic_write_bytes` for
    `best_effort`); returns whether it was written."""
    return atomic_write_bytes(path, critical_json_bytes(data), fsync=fsync, best_effort=best_effort)


def parse_critical_json(raw: bytes, where: str) -> Any:
    """Check and decode a critical JSON document; `where` names it in errors."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NonAtomicWrite(f"{where}: not valid JSON ({exc}); torn or non-atomic write") from None
    if not isinstance(doc, dict) or set(doc) != {"sha256", "data"}:
        raise NonAtomicWrite(f"{where}: expected an object with exactly 'sha256' and 'data'")
    expected = doc["sha256"]
    actual = hashlib.sha256(canonical_bytes(doc["data"])).hexdigest()
    if expected != actual:
        raise NonAtomicWrite(f"{where}: sha256 {actual} does not match recorded {expected}")
    return doc["data"]


def read_critical_json(path: Path | str) -> Any:
    """Read a critical JSON file, raising `NonAtomicWrite` if it is torn, foreign or tampered with."""
    p = Path(path)
    return parse_critical_json(p.read_bytes(), str(p))


def acquire_lock(fh: IO[bytes], where: str, timeout_s: float = LOCK_TIMEOUT_S) -> float:
    """Take an exclusive lock on the open file `fh` (shared by processes locking the same file).

    Non-blocking tries with short, jittered, growing sleeps (0.5 ms up to `LOCK_MAX_SLEEP_S`) until
    `timeout_s`; returns the seconds waited. Raises `LockTimeout` naming `where` when the lock stays taken.
    """
    started = time.monotonic()
    give_up = started + timeout_s
    sleep_s = LOCK_FIRST_SLEEP_S
    while True:
        try:
            portalocker.lock(fh, portalocker.LOCK_EX | portalocker.LOCK_NB)
            return time.monotonic() - started
        except portalocker.AlreadyLocked:
            left = give_up - time.monotonic()
            if left <= 0:
                raise LockTimeout(
                    f"{where}: lock still taken after {timeout_s:.1f} s; a process holding it hangs, or a second "
                    "NORE works on the same files"
                ) from None
            # Jitter keeps waiters from retrying in lockstep; the cap bounds how late a free lock is noticed.
            time.sleep(min(sleep_s * random.uniform(0.5, 1.0), left))
            sleep_s = min(sleep_s * 2, LOCK_MAX_SLEEP_S)


def release_lock(fh: IO[bytes]) -> None:
    """Release a lock taken with `acquire_lock`."""
    portalocker.unlock(fh)


@contextlib.contextmanager
def held_lock(fh: IO[bytes], where: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """`acquire_lock` for the duration of a `with` block on a file the caller keeps open."""
    acquire_lock(fh, where, timeout_s)
    try:
        yield
    finally:
        release_lock(fh)


@contextlib.contextmanager
def file_lock(path: Path | str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive cross-process lock on `path` (created if missing), held for a `with` block; raises
    `LockTimeout` when it stays taken for `timeout_s`."""
    with open(path, "a+b") as fh, held_lock(fh, str(path), timeout_s):
        yield
