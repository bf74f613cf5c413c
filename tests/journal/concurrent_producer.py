"""One of several producer processes appending to one queue (run by test_concurrency)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.ids import deterministic_id
from minibot.journal.context import RunContext, scratch_queues

if __name__ == "__main__":
    run_dir, worker, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    queues = replace(scratch_queues(), base_dir="queues", fsync="none", segment_max_bytes=1 << 20, batch_max_events=100)
    ctx = RunContext(run_dir, "20261124_111111", "e" * 64, lambda: 1_700_000_000_000, queues)
    producer = ctx.producer("health", "market_role")
    payload = dict(EXAMPLE_PAYLOADS["health"], pid=worker)
    n = 0
    while n < count:
        size = min(1 + (n % 37), count - n)  # varied batch sizes interleave differently
        producer.publish(
            [
                producer.event("health", dict(payload, uptime_s=float(i)), id_=deterministic_id(str(worker), str(i)))
                for i in range(n, n + size)
            ]
        )
        n += size
    producer.close()
