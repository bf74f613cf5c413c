"""Processes for the crash tests, run as `python tests/journal/crash_procs.py producer|consumer ...`.

producer: publishes ticks with ids derived from their sequence number; after a restart it counts the
lines already in the queue and continues, so the queue itself is its progress record. It prints "writing"
once its first batch of this life is in the queue (the test kills it only from then on).
consumer: a RoleRunner with EchoCore; with `--crash-before-ack P` it terminates abruptly (os._exit, no
cleanup, like kill -9) with probability P right after publishing a batch's outputs and before acking it.
It gives up after DEADLINE_S seconds (argument 5, default 120).
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from minibot.ids import deterministic_id
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.reader import iter_lines
from minibot.roles.runner import RoleRunner
from tests.roles.echo_core import EchoCore

RUN_ID = "20261124_010203"
CMDLINE_HASH = "c" * 64
TICK = {
    "symbol": "BTCUSDT",
    "price": 100.5,
    "bid": 100.4,
    "ask": 100.6,
    "bid_qty": 1.0,
    "ask_qty": 2.0,
    "kind": "book",
    "exchange_ts": None,
    "trade_id": None,
}


def tick_id(n: int) -> str:
    """The id of tick number `n`."""
    return deterministic_id("crash-test", str(n))


def context(run_dir: Path, batch: int = 50) -> RunContext:
    """The shared run context (group commit, small segments so rotation is exercised)."""
    queues = replace(
        scratch_queues(), base_dir="queues", fsync="group:5ms", segment_max_bytes=65536, batch_max_events=batch
    )
    return RunContext(run_dir, RUN_ID, CMDLINE_HASH, lambda: int(time.time() * 1000), queues)


def producer(run_dir: Path, total: int) -> None:
    """Publish ticks 0..total-1 in small batches, resuming after what the queue already holds."""
    ctx = context(run_dir)
    prod = ctx.producer("market_ticks", "market_role")
    prod.publish([])
    paths = ctx.queue_paths("market_ticks")
    rng = random.Random(os.getpid())
    writing = False
    while True:
        done = sum(1 for _ in iter_lines(paths.folder, "inbox"))
        if done >= total:
            break
        size = min(rng.randint(1, 20), total - done)
        prod.publish([prod.event("market_tick", TICK, id_=tick_id(n)) for n in range(done, done + size)])
        if not writing:
            writing = True
            print("writing", flush=True)
    prod.close()
    print("done", flush=True)


def consumer(run_dir: Path, total: int, crash_before_ack: float, deadline_s: float) -> None:
    """Run the echo role until it has produced one signal per tick."""
    ctx = context(run_dir, batch=20)
    runner = RoleRunner(ctx, "strategy_role", EchoCore(), ["market_ticks"])
    rng = random.Random(os.getpid())
    for _, cons in runner.consumers:
        real_ack = cons.ack

        def ack(real_ack=real_ack) -> None:  # type: ignore[no-untyped-def]
            if rng.random() < crash_before_ack:
                os._exit(9)
            real_ack()

        cons.ack = ack  # type: ignore[method-assign]
    print("ready", flush=True)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if runner.run_once() == 0:
            if runner.consumers[0][1].committed.line >= total:
                break
            time.sleep(0.002)
    runner.close()
    print("done", flush=True)


if __name__ == "__main__":
    kind, folder, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    if kind == "producer":
        producer(folder, count)
    else:
        crash = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
        consumer(folder, count, crash, float(sys.argv[5]) if len(sys.argv) > 5 else 120.0)
