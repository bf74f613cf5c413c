"""Run identity: run_id, cmdline_hash (R-P4) and deterministic UUID-v4-format ids for core outputs."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

RUN_ID_RE = re.compile(r"^\d{8}_\d{6}$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_ID_NAMESPACE = b"minibot.nore.id.v1"
_ID_HEAD = _ID_NAMESPACE + b"\0"
_sha256 = hashlib.sha256


def new_run_id(now: datetime | None = None) -> str:
    """`YYYYMMDD_HHMMSS` in UTC."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d_%H%M%S")


def process_command_line() -> str:
    """The command line of this process, as the OS recorded it.

    Windows: `GetCommandLineW()` (R-P4), exactly the string the process was started with. POSIX: the
    documented equivalent is `/proc/self/cmdline` (NUL-separated argv) joined with single spaces; where
    /proc is missing, `sys.orig_argv` (the interpreter's own argv) joined the same way.
    """
    if sys.platform == "win32":
        import ctypes

        get = ctypes.windll.kernel32.GetCommandLineW
        get.restype = ctypes.c_wchar_p
        return str(get())
    proc = Path("/proc/self/cmdline")
    if proc.exists():
        parts = proc.read_bytes().rstrip(b"\0").split(b"\0")
        return " ".join(p.decode("utf-8", "surrogateescape") for p in parts)
    return " ".join(sys.orig_argv)


def cmdline_hash(command_line: str) -> str:
    """sha256 (lowercase hex) of the command line's UTF-8 bytes."""
    return hashlib.sha256(command_line.encode("utf-8", "surrogateescape")).hexdigest()


def deterministic_id(*parts: str) -> str:
    """A UUID with version-4 and RFC 4122 variant bits, derived from `parts` (stable across runs).

    The text `str(uuid.UUID(bytes=...))` gives for the sha256's first 16 bytes with those bits set, formatted
    straight from the hex digest (half the cost: every ack, input batch and core output takes one; issue 14,
    CPU per tick; tests/test_ids.py compares it with the uuid module's text)."""
    h = _sha256(_ID_HEAD + "\0".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def sequential_ids(*prefix: str) -> Callable[[int], str]:
    """`n -> id` for a numbered stream (the backtest's market ticks, numbered by their line `mseq`), for hot
    loops: a UUID in `deterministic_id`'s version-4 format whose first 80 bits are `deterministic_id(*prefix)`'s
    and whose last 48 bits are `n` (0 <= n < 2**48). So the ids of one stream are distinct, the same prefix and
    number give the same id, and minting one costs an integer format instead of a sha256."""
    head = deterministic_id(*prefix)[:24]  # "xxxxxxxx-xxxx-4xxx-Vxxx-": version and variant already set

    def make(n: int) -> str:
        return f"{head}{n:012x}"

    return make


def random_id() -> str:
    """A random UUID4, for events outside the deterministic core: the text `str(uuid.uuid4())` gives (122
    random bits, version 4, RFC 4122 variant), formatted directly (a quarter of uuid4's cost: every event
    published takes one; issue 14, CPU per tick)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_VARIANT = "89ab"  # the variant's two high bits are 10; the two low bits of that hex digit stay random
