"""The supervisor's metrics collector alone, on a kept run: does its C heap grow poll after poll? (issue 14, item 4)

Copies `run.json` and `exchange_info.json` of a kept run folder (`bench/bench_run.py --keep`) into a fresh
folder, then feeds every queue's and `market/requests.jsonl`'s lines back into it in event-time order,
`--polls` slices, with a `MetricsCollector` polling after each slice and writing `metrics.json` every
`--write-every` polls, as the supervisor does. Before it starts it frees one 1 MB block, as the scrub's
reads do in the supervisor (glibc then serves blocks up to 1 MB from the `[heap]`). Prints glibc's
`mallinfo2` (heap arena, in use, free chunks) and RSS after a quarter of the polls and at the end.

`--old-reads` emulates the reads before 2026-11-28 (`read(1 MB)` per journal per poll) to compare.
Linux with glibc only (mallinfo2); the collector itself is cross-platform.

Usage:
    .venv/bin/python bench/bench_run.py --minutes 30 --symbols 2 --keep     # prints the run folder
    .venv/bin/python bench/bench_collector_heap.py RUN_FOLDER --polls 20000
    .venv/bin/python bench/bench_collector_heap.py RUN_FOLDER --polls 20000 --old-reads
"""

from __future__ import annotations

import argparse
import ctypes
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import orjson

from minibot.contracts.codec import split_line
from minibot.journal import reader
from minibot.metrics.collector import MetricsCollector


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _heap(libc: ctypes.CDLL, tag: str) -> None:
    info = libc.mallinfo2()
    status = Path("/proc/self/status").read_text(encoding="ascii")
    rss_mb = int(status.split("VmRSS:")[1].split()[0]) / 1024
    mb = 1 << 20
    print(
        f"{tag}: heap arena {info.arena / mb:.1f} MB (in use {info.uordblks / mb:.1f}, free {info.fordblks / mb:.1f}),"
        f" mmapped {info.hblkhd / mb:.1f}, rss {rss_mb:.1f} MB",
        flush=True,
    )


def main() -> int:
    """Run the shadow collector; exit 2 off glibc."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path, help="a kept run folder (bench_run.py --keep)")
    ap.add_argument("--polls", type=int, default=20000)
    ap.add_argument("--write-every", type=int, default=20, help="polls between two metrics.json writes")
    ap.add_argument("--old-reads", action="store_true", help="read(1 MB) per journal per poll, as before")
    args = ap.parse_args()
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        print("needs Linux with glibc >= 2.33 (mallinfo2)", file=sys.stderr)
        return 2
    if args.old_reads:
        reader._MIN_READ = reader._CHUNK  # the former read size, for the comparison
    src: Path = args.run_dir
    with tempfile.TemporaryDirectory(prefix="bench_collector_heap_") as tmp:
        dst = Path(tmp)
        for name in ("run.json", "exchange_info.json"):
            shutil.copy(src / name, dst / name)
        (dst / "ai").mkdir()
        journals = [p for p in src.rglob("*.jsonl") if p.parent.parent.name == "queues" or p.parent.name == "market"]
        feed: list[tuple[int, int, Path, bytes]] = []
        outs: dict[Path, BinaryIO] = {}
        for path in journals:
            for i, line in enumerate(path.read_bytes().splitlines(keepends=True)):
                feed.append((int(orjson.loads(split_line(line)[1])["ts"]), i, path, line))
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            outs[path] = target.open("ab")
        feed.sort(key=lambda item: (item[0], item[1]))
        blob = bytes(1 << 20)  # freed at once: glibc's mmap threshold rises to 1 MB, as after a scrub read
        del blob
        collector = MetricsCollector(dst)
        started = time.monotonic()
        for r in range(args.polls):
            touched: set[Path] = set()
            for _, _, path, line in feed[len(feed) * r // args.polls : len(feed) * (r + 1) // args.polls]:
                outs[path].write(line)
                touched.add(path)
            for path in touched:
                outs[path].flush()
            collector.update(None)
            if r % args.write_every == 0:
                collector.write()
            if r == args.polls // 4:
                _heap(libc, f"after {r} polls")
        _heap(libc, f"after {args.polls} polls ({time.monotonic() - started:.0f} s, {len(feed)} lines)")
        print(f"PnL start-overs: {collector.pnl.start_overs}")
        collector.close()
        for fh in outs.values():
            fh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
