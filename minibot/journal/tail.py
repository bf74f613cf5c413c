"""The end of a segment file: its last whole line, and repairing an append a crash tore.

A writer appends whole lines with one `write()`; a crash can leave a final line without its newline. Such a
line was never published (readers consume whole lines only), so the next writer truncates it and records
the repair. These helpers scan backwards 64 KB at a time, so a long file costs only its tail.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from minibot.reasons import CursorDesync

_TAIL_SCAN = 1 << 16


def repair_torn_tail(path: Path, floor: int = 0) -> tuple[int, int]:
    """Truncate bytes after the last newline (an append torn by a crash, never published).

    Returns (new size, bytes removed). Callers hold the journal's lock and record the repair. A cut below
    `floor` (bytes known to be published, e.g. by the queue's hash chain) would remove lines readers may
    have consumed: that is a desync, raised as CursorDesync and never repaired.
    """
    size = path.stat().st_size
    if size == 0:
        return 0, 0
    with path.open("r+b") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return size, 0
        pos = size
        while pos > 0:
            start = max(0, pos - _TAIL_SCAN)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        else:
            keep = 0
        if keep < floor:
            raise CursorDesync(
                f"{path.name} ends inside a line at byte {size}, below the {floor} bytes already published: "
                "the file was truncated under its readers (not a torn append); not repaired"
            )
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return keep, size - keep


def repair_and_describe(path: Path, journal: str, floor: int = 0) -> dict[str, object] | None:
    """If `path` ends in a torn line, truncate it and return the `queue_recovery` payload that records it
    (the callers journal it); None when the file is empty or ends on a whole line. A tear below `floor`
    raises CursorDesync (see `repair_torn_tail`)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return None
        fh.seek(max(0, fh.tell() - 256))
        torn = fh.read()
    new_size, removed = repair_torn_tail(path, floor)
    return {
        "queue": journal,
        "file": path.name,
        "offset": new_size,
        "truncated_bytes": removed,
        "detail": "torn final line (no newline) truncated before append; it was never published. "
        f"last bytes (base64): {base64.b64encode(torn).decode()}",
    }


def last_line(path: Path, end: int | None = None) -> bytes | None:
    """The last whole line (with its newline) ending at byte `end` (default: file end), or None."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        stop = fh.tell() if end is None else end
        if stop == 0:
            return None
        pos = stop - 1  # skip the terminating newline
        buf = b""
        while pos > 0:
            start = max(0, pos - _TAIL_SCAN)
            fh.seek(start)
            buf = fh.read(pos - start) + buf
            nl = buf.rfind(b"\n")
            if nl >= 0:
                fh.seek(start + nl + 1)
                return fh.read(stop - (start + nl + 1))
            pos = start
        fh.seek(0)
        return fh.read(stop)
