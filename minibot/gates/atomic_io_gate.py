"""atomic_io_gate (R-Q4): critical files (cursor, config as used, metrics) are written atomically and a
non-atomic write is detected (R-T3)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.gates.atomic_writer import contents
from minibot.gates.base import GateFailed
from minibot.journal.atomic import critical_json_bytes, read_critical_json, write_critical_json
from minibot.journal.context import RunContext, scratch_queues
from minibot.reasons import NonAtomicWrite
from minibot.rolenames import Role

GATE_KILLS = 20


def kill_during_atomic_writes(target: Path, kills: int, seed: int = 0) -> int:
    """Kill a writer process `kills` times at random moments; after each kill the file must hold one of
    the two complete documents. Returns how many kills landed while the writer was running."""
    rng = random.Random(seed)
    allowed = contents()
    for attempt in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-m", "minibot.gates.atomic_writer", str(target)],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            proc.kill()
            raise GateFailed("atomic writer process did not start")
        time.sleep(rng.uniform(0.0, 0.02))
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        try:
            data = read_critical_json(target)
        except NonAtomicWrite as exc:
            raise GateFailed(f"kill {attempt + 1}: reader saw a torn file: {exc}") from None
        if data not in allowed:
            raise GateFailed(f"kill {attempt + 1}: file holds neither the old nor the new content")
    return kills


def _check_in_place_write_detected(folder: Path) -> None:
    target = folder / "metrics.json"
    write_critical_json(target, {"ticks": 1})
    raw = critical_json_bytes({"ticks": 2})
    with target.open("r+b") as fh:  # what a non-atomic writer killed halfway leaves behind
        fh.write(raw[: len(raw) // 2])
    try:
        read_critical_json(target)
    except NonAtomicWrite:
        pass
    else:
        raise GateFailed("a torn in-place write of a critical file was not detected")
    target.write_bytes(b'{"ticks": 3}\n')  # a foreign writer that does not carry the hash
    try:
        read_critical_json(target)
    except NonAtomicWrite:
        return
    raise GateFailed("a critical file without its sha256 was accepted")


def _check_cursor(folder: Path) -> None:
    ctx = RunContext(folder / "run", EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1723161255342, scratch_queues())
    producer = ctx.producer("fills", Role.EXECUTION.value)
    producer.publish([producer.event("fill", EXAMPLE_PAYLOADS["fill"])])
    producer.close()
    consumer = ctx.consumer("fills", Role.RISK.value)
    consumer.poll()
    consumer.ack()
    consumer.close()
    cursor = read_critical_json(ctx.queue_paths("fills").cursor(Role.RISK.value))
    if cursor.get("line") != 1:
        raise GateFailed(f"cursor after one ack is {cursor}")


def atomic_io_gate(workdir: Path) -> str:
    """Run the atomic I/O gate in `workdir`; return its one-line detail or raise GateFailed."""
    _check_cursor(workdir)
    _check_in_place_write_detected(workdir)
    kills = kill_during_atomic_writes(workdir / "critical.json", GATE_KILLS)
    return (
        f"cursor written as critical JSON; torn in-place and hash-less writes detected; "
        f"{kills} writer kills left old-or-new content every time"
    )
