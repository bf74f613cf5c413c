"""A process that rewrites one critical file forever, alternating two contents; killed by tests and the
atomic_io_gate to prove readers only ever see the old or the new content (R-P3, R-Q4)."""

from __future__ import annotations

import sys
from pathlib import Path

from minibot.journal.atomic import write_critical_json

CONTENT_SIZE = 200_000


def contents() -> tuple[dict[str, str], dict[str, str]]:
    """The two documents the writer alternates between (large, so a torn write would be visible)."""
    return {"v": "a" * CONTENT_SIZE}, {"v": "b" * CONTENT_SIZE}


def main(argv: list[str]) -> int:
    """Alternate the two contents in `argv[0]` until killed; print 'ready' after the first write."""
    target = Path(argv[0])
    first, second = contents()
    write_critical_json(target, first)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        write_critical_json(target, second)
        write_critical_json(target, first)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
