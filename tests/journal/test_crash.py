"""Crash safety: processes killed at random moments lose and duplicate nothing (R-T2, R-T6, issue 3)."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from minibot.journal.verify import verify_path
from minibot.roles.runner import queue_events
from tests.journal.crash_procs import context, tick_id

pytestmark = pytest.mark.process

SCRIPT = Path(__file__).with_name("crash_procs.py")
KILLS = 200
LIFE_S = 60.0  # wall seconds one consumer life may take to get ready, and then to end


def _first_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The process's first output line, waited for at most `timeout_s` (the process is killed after that)."""
    stdout = proc.stdout
    assert stdout is not None
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if reader.is_alive():
        proc.kill()
        reader.join(10)
    return box[0].decode().strip() if box else ""


def _start(kind: str, run_dir: Path, total: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), kind, str(run_dir), str(total), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(kind: str, run_dir: Path, total: int, *extra: str) -> None:
    proc = _start(kind, run_dir, total, *extra)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip().endswith("done")


def _assert_exactly_once(run_dir: Path, total: int) -> None:
    ctx = context(run_dir)
    ticks = [e["id"] for e in queue_events(ctx, "market_ticks")]
    assert ticks == [tick_id(n) for n in range(total)], "ticks lost, duplicated or reordered"
    causes = [e["payload"]["cause_id"] for e in queue_events(ctx, "signals")]
    assert causes == ticks, "the consumer's processed sequence differs from the published one"
    report = verify_path(ctx.queues_dir)
    assert report.ok, [str(p) for p in report.problems[:5]]


@pytest.mark.timeout(600)
def test_producer_killed_at_random_moments_while_consumer_consumes(tmp_path: Path) -> None:
    # Each producer is killed at a random instant after its "writing" line, so every kill lands while it
    # writes (never during its start-up). 200 lives write ~10-50 ticks each: 12000 ticks outlast them.
    total = 12000
    rng = random.Random(7)
    consumer = _start("consumer", tmp_path, total, "0", "540")  # it consumes while the 200 lives take turns
    kills = 0
    deadline = time.monotonic() + 360
    while kills < KILLS and time.monotonic() < deadline:
        proc = _start("producer", tmp_path, total)
        line = proc.stdout.readline().decode().strip()  # type: ignore[union-attr]
        assert line == "writing", f"the producer finished before its kill: {line!r}"
        time.sleep(rng.uniform(0.0, 0.01))
        assert proc.poll() is None, "the producer ended before its kill"
        proc.kill()
        kills += 1
        proc.wait(timeout=30)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert kills >= KILLS, f"only {kills} kills landed while the producer ran"
    _finish("producer", tmp_path, total)
    _out, err = consumer.communicate(timeout=180)
    assert consumer.returncode == 0, err.decode()
    _assert_exactly_once(tmp_path, total)


# The loop is bounded by its work (KILLS lives, each bounded by LIFE_S), not by a wall budget for all of
# them: a loaded machine makes every start-up slower, never the count. This mark is only the last resort.
@pytest.mark.timeout(KILLS * 10)
def test_consumer_killed_between_processing_and_acking(tmp_path: Path) -> None:
    total = 12000  # more than ~200 short-lived consumers get through, so every run ends in a kill
    _finish("producer", tmp_path, total)
    rng = random.Random(11)
    for _ in range(KILLS):
        proc = _start("consumer", tmp_path, total, "0.5", str(LIFE_S))
        line = _first_line(proc, LIFE_S)
        assert line == "ready", f"the consumer did not get through recovery: {line!r}"
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.0, 0.05))  # also SIGKILL at arbitrary instants
            proc.kill()
        code = proc.wait(timeout=LIFE_S)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        assert code != 0, "the consumer finished before it could be killed 200 times"
    _finish("consumer", tmp_path, total)
    _assert_exactly_once(tmp_path, total)
