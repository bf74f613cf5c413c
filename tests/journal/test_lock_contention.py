"""Seven producer processes on one queue (as on `health` in a run): no publish stalls on the lock.

On Windows without pywin32, portalocker locks through `msvcrt.locking`, whose blocking mode sleeps a whole
second per failed try; here that is emulated on Linux (see contended_producer.py), so a blocking lock shows up
as a >= 1 s stall. The queue lock must wait in milliseconds instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.verify import verify_path
from minibot.roles.runner import queue_events

pytestmark = pytest.mark.process

SCRIPT = Path(__file__).with_name("contended_producer.py")
PRODUCERS = 7
BATCHES = 300
# Longest acceptable single publish (lock wait + append) on a loaded 2-core machine: several scheduler time
# slices, yet far below the 1 s sleep of one failed msvcrt try.
STALL_BOUND_S = 0.4


@pytest.mark.timeout(300)
def test_seven_producers_never_stall_on_the_queue_lock(tmp_path: Path) -> None:
    emulate = [] if sys.platform == "win32" else ["msvcrt"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), str(tmp_path), str(w), str(BATCHES), *emulate],
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(PRODUCERS)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0
        results.append(json.loads(out))
    durations = sorted(d for r in results for d in r["durations"])
    worst = durations[-1]
    p99 = durations[int(len(durations) * 0.99)]
    print(f"{len(durations)} publishes by {PRODUCERS} processes: p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms")
    assert worst < STALL_BOUND_S, f"a publish stalled {worst:.3f} s on the queue lock (bound {STALL_BOUND_S} s)"
    ctx = RunContext(tmp_path, "20261124_111111", "e" * 64, lambda: 0, scratch_queues())
    report = verify_path(ctx.queue_paths("health").folder)
    assert report.ok, [str(p) for p in report.problems[:5]]
    assert len(list(queue_events(ctx, "health"))) == sum(r["events"] for r in results)
