"""One of several producer processes publishing to one queue as fast as it can, timing every publish (run by
test_lock_contention). With `msvcrt` as the last argument, portalocker's locking call behaves as on Windows
without pywin32 (`msvcrt.locking`): a non-blocking try fails at once, a blocking one sleeps 1 s per failed try
and gives up after ten."""

from __future__ import annotations

import errno
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import portalocker.portalocker

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.ids import deterministic_id
from minibot.journal.context import RunContext, scratch_queues

PRODUCERS = (
    "market_role",
    "strategy_role",
    "risk_role",
    "execution_role",
    "ai_role",
    "health_role",
    "watchdog_role",
)
# Between two publishes a role does other work; 1 ms keeps this far busier than a run's health queue (each
# role publishes a heartbeat every few seconds) without one process re-taking the lock back to back.
PAUSE_S = 0.001
MSVCRT_TRIES = 10
MSVCRT_SLEEP_S = 1.0


def msvcrt_like(fd: int, flags: int) -> None:
    """`msvcrt.locking` semantics on top of flock (LK_NBLCK: one try; LK_LOCK: 10 tries, 1 s apart)."""
    import fcntl  # POSIX only: the emulation is for Linux CI; on Windows the test runs the real thing

    if flags & fcntl.LOCK_UN:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    tries = 1 if flags & fcntl.LOCK_NB else MSVCRT_TRIES
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if tries == 1:
                raise
            if attempt < tries - 1:
                time.sleep(MSVCRT_SLEEP_S)
    raise OSError(errno.EDEADLK, "Resource deadlock avoided")


if __name__ == "__main__":
    run_dir, worker, batches = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    if sys.argv[4:] == ["msvcrt"]:
        portalocker.portalocker.LOCKER = msvcrt_like
    queues = replace(scratch_queues(), base_dir="queues", fsync="none", segment_max_bytes=1 << 20, batch_max_events=100)
    ctx = RunContext(run_dir, "20261124_111111", "e" * 64, lambda: 1_700_000_000_000, queues)
    # The seven roles that publish on `health` in a run.
    producer = ctx.producer("health", PRODUCERS[worker % len(PRODUCERS)])
    payload = dict(EXAMPLE_PAYLOADS["health"], pid=worker)
    durations: list[float] = []
    n = 0
    for b in range(batches):
        events = [
            producer.event("health", dict(payload, uptime_s=float(i)), id_=deterministic_id(str(worker), str(i)))
            for i in range(n, n + 1 + b % 5)
        ]
        started = time.perf_counter()
        producer.publish(events)
        durations.append(time.perf_counter() - started)
        n += len(events)
        time.sleep(PAUSE_S)
    producer.close()
    print(json.dumps({"worker": worker, "events": n, "max_s": max(durations), "durations": durations}))
