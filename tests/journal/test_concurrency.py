"""4 producer processes appending 20k events to one queue: every line intact, none interleaved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.verify import verify_path
from minibot.roles.runner import queue_events

pytestmark = pytest.mark.process

SCRIPT = Path(__file__).with_name("concurrent_producer.py")


@pytest.mark.timeout(300)
def test_four_producers_twenty_thousand_events(tmp_path: Path) -> None:
    workers, per_worker = 4, 5000
    procs = [
        subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path), str(w), str(per_worker)]) for w in range(workers)
    ]
    for proc in procs:
        assert proc.wait(timeout=240) == 0
    ctx = RunContext(tmp_path, "20261124_111111", "e" * 64, lambda: 0, scratch_queues())
    report = verify_path(ctx.queue_paths("health").folder)
    assert report.ok, [str(p) for p in report.problems[:5]]
    events = list(queue_events(ctx, "health"))
    assert len(events) == workers * per_worker
    for w in range(workers):
        # each producer's own events are all there, in its own order
        uptimes = [e["payload"]["uptime_s"] for e in events if e["payload"]["pid"] == w]
        assert uptimes == [float(i) for i in range(per_worker)]
    segments = sorted(p.name for p in ctx.queue_paths("health").folder.glob("inbox*.jsonl"))
    assert len(segments) > 1, "rotation under concurrent producers was not exercised"
