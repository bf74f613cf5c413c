"""Atomic file writes, cross-process locks and self-verifying critical JSON files (R-P3, R-T3, R-Q4).

`atomic_write_bytes`: temp file in the same folder -> write -> flush -> fsync -> `os.replace` -> fsync of the
folder (POSIX only; Windows cannot open a directory for fsync). `os.replace` is retried a bounded number of
times because on Windows a reader holding the target open makes it fail with a sharing violation.

Critical JSON files (cursor, metrics, run.json, active model pointer, portfolio snapshot) are written as
`{"sha256": <hex of the canonical data bytes>, "data": ...}`: a torn, partial or foreign (in-place) write
no longer matches its own hash and `read_critical_json` raises `NonAtomicWrite` (a T3 STOP).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import portalocker

from minibot.reasons import NonAtomicWrite

REPLACE_RETRIES = 50
REPLACE_RETRY_SLEEP_S = 0.02
_CANONICAL = orjson.OPT_SORT_KEYS


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX). Windows has no directory handles to fsync."""
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_with_retry(src: Path, dst: Path) -> None:
    """`os.replace` with bounded retries on PermissionError (Windows sharing violations)."""
    for attempt in range(REPLACE_RETRIES):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if attempt == REPLACE_RETRIES - 1:
                raise
            time.sleep(REPLACE_RETRY_SLEEP_S)


def atomic_write_bytes(path: Path | str, data: bytes, *, fsync: bool = True) -> None:
    """Replace `path` with `data` so that readers see the old or the new content, never a mix.

    `fsync=False` skips the flushes to stable storage (still atomic against concurrent readers, not
    against power loss); only callers with a documented `none` fsync policy pass it.
    """
    target = Path(path)
    folder = target.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        replace_with_retry(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        fsync_dir(folder)


def canonical_bytes(data: Any) -> bytes:
    """The bytes a critical file's hash covers: compact JSON with sorted keys."""
    return orjson.dumps(data, option=_CANONICAL)


def critical_json_bytes(data: Any) -> bytes:
    """Serialize `data` as a self-verifying critical JSON document."""
    body = canonical_bytes(data)
    digest = hashlib.sha256(body).hexdigest()
    return b'{"sha256":"' + digest.encode() + b'","data":' + body + b"}\n"


def write_critical_json(path: Path | str, data: Any, *, fsync: bool = True) -> None:
    """Atomically write `data` as a critical JSON file carrying its own sha256."""
    atomic_write_bytes(path, critical_json_bytes(data), fsync=fsync)


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


@contextlib.contextmanager
def file_lock(path: Path | str, timeout_s: float = 30.0) -> Iterator[None]:
    """Exclusive cross-process lock on `path` (created if missing); portalocker works on Windows and POSIX.

    Non-blocking attempts retried until `timeout_s` (a blocking lock would ignore the timeout and could wait
    forever); raises portalocker.LockException when the lock stays taken.
    """
    lock = portalocker.Lock(
        str(path), mode="a", timeout=timeout_s, check_interval=0.05, flags=portalocker.LOCK_EX | portalocker.LOCK_NB
    )
    with lock:
        yield
