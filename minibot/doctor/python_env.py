"""Python version and the virtual environment NORE runs from."""

from __future__ import annotations

import sys

from minibot.doctor.rows import DoctorContext, Row, Status

# requirements/lock.txt is resolved and tested for these versions (docs/dependencies.md).
LOCKED_MINORS = ((3, 11), (3, 12), (3, 13))


def check(ctx: DoctorContext) -> list[Row]:
    """Python >= 3.11 (one the lock covers) and running inside a venv, not the system interpreter."""
    version = sys.version_info[:2]
    text = f"Python {sys.version.split()[0]} ({sys.executable})"
    if version < (3, 11):
        py = Row("python", Status.FAIL, text, "install Python 3.11, 3.12 or 3.13 from python.org")
    elif version not in LOCKED_MINORS:
        py = Row("python", Status.WARN, f"{text}: newer than the locked install was tested on", "use 3.11-3.13")
    else:
        py = Row("python", Status.OK, text)
    if sys.prefix != sys.base_prefix:
        env = Row("venv", Status.OK, f"running from the virtual environment {sys.prefix}")
    else:
        env = Row(
            "venv",
            Status.WARN,
            f"not in a virtual environment (system Python {sys.prefix})",
            "set up with `py dev.py setup` and start .venv\\Scripts\\nore.exe (Linux: .venv/bin/nore)",
        )
    return [py, env]
