"""The watchdog's chain scrub at the end of a long night (issue 14 idle cost, issue 13 item 3).

    .venv/bin/python bench/bench_scrub.py [--mb 350] [--segment-mb 64] [--passes 10]

Writes a 7-hour night's queues with the real producer into a temporary folder, deleted at the end:
`--mb` MB of market_ticks (~1 KB batches as the simulated market at 1x publishes them: ~350 MB and ~300,000
checkpoints in a night), and health and ai_recommendations in proportion (21 and 18 MB for 350, as measured;
the other queues are small), then measures the process CPU time of the scrub per 30 s of run clock at 1x:

- before: one full pass over the chain every 30 s, as the scrub re-read it until this change (the same code
  path as `nore journal verify`: every byte re-hashed, every checkpoint walked);
- after: `QueueScrub.check` every 5 s of run clock (the supervisor's periodic check; the test clock is
  advanced, nothing sleeps) over `--passes` rolling passes, with the night going on (each queue grows at its
  rate of the night between checks, market_ticks ~70 KB; the publishing is not counted), once the initial catch-up is
  done and the sealed segments are trusted.

Prints the machine load, both figures and what the scrub read, then
`target scrub_night_cost: X % of one core (goal <= 0.5): met|not met`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.journal.chaincheck import verify_chain
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.producer import Producer
from minibot.watchdog.scrub import SCRUB_BOUND_RUN_S, QueueScrub

GOAL_PCT = 0.5
MB = 1 << 20
CHECK_S = 5.0  # run clock between two periodic checks (supervisor.CHECK_EVERY_RUN_S)
PASS_S = SCRUB_BOUND_RUN_S / 2
NIGHT_S = 7 * 3600
# queue: (producer, event type, events a batch, MB in a 7-hour night at 1x for 350 MB of market_ticks)
NIGHT = {
    "market_ticks": ("market_role", "market_tick", 2, 350),  # ~1 KB a batch: ~300,000 checkpoints
    "health": ("health_role", "health", 1, 21),
    "ai_recommendations": ("ai_role", "ai_recommendation", 1, 18),
}


class Queue:
    """One queue of the night, written by the real producer."""

    def __init__(self, ctx: RunContext, name: str) -> None:
        source, self.type, self.events, self.night_mb = NIGHT[name]
        self.producer: Producer = ctx.producer(name, source)
        self.folder = ctx.queue_paths(name).folder
        self.publish(1)
        self.batch = _size(self.folder)

    def publish(self, batches: int) -> None:
        """`batches` batches of this queue's example event."""
        for _ in range(batches):
            self.producer.publish(
                [self.producer.event(self.type, EXAMPLE_PAYLOADS[self.type]) for _ in range(self.events)]
            )


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("inbox*.jsonl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=350, help="queue size written first (a 7-hour night: 350)")
    parser.add_argument("--segment-mb", type=int, default=64, help="queues.segment_max_bytes in MB (shipped: 64)")
    parser.add_argument("--passes", type=int, default=10, help="rolling passes measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_scrub_") as tmp:
        cfg = replace(scratch_queues(), fsync="none", segment_max_bytes=args.segment_mb << 20)
        ctx = RunContext(Path(tmp), EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: int(time.time() * 1000), cfg)
        queues = [Queue(ctx, name) for name in NIGHT]
        start = time.monotonic()
        scale = args.mb / NIGHT["market_ticks"][3]
        for queue in queues:
            queue.publish(int(queue.night_mb * scale * MB) // queue.batch)
            segments = len(list(queue.folder.glob("inbox*.jsonl")))
            print(f"{queue.folder.name}: {_size(queue.folder) / MB:.0f} MB in {segments} segments")
        print(f"written in {time.monotonic() - start:.0f} s")

        cpu = time.process_time()
        for queue in queues:
            faults = verify_chain(queue.folder)
            assert not faults, faults
        before_s = time.process_time() - cpu
        before_pct = before_s / PASS_S * 100

        now = [0.0]
        scrub = QueueScrub(
            {queue.folder.name: queue.folder for queue in queues},
            pass_wall_s=PASS_S,
            clock=lambda: now[0],
            wall_ns=lambda: time.time_ns() + 10_000_000_000,  # the night's files were written a moment ago
        )
        cpu = time.process_time()
        while scrub.passes < 3:  # the catch-up a restarted watchdog would do, then sealed files trusted
            now[0] += CHECK_S
            assert scrub.check() is None
        catch_up_s = time.process_time() - cpu
        read, walked, stats, passes = scrub.bytes_read, scrub.checkpoints, scrub.stats, scrub.passes
        rolling, slow, spent, checks = scrub.rolling_bytes, scrub.slow_bytes, 0.0, 0
        while scrub.passes - passes < args.passes:
            for queue in queues:
                queue.publish(max(1, round(queue.night_mb * MB / NIGHT_S * CHECK_S / queue.batch)))  # the 1x rate
            now[0] += CHECK_S
            cpu = time.process_time()
            assert scrub.check() is None
            spent += time.process_time() - cpu
            checks += 1
        for queue in queues:
            queue.producer.close()
        after_pct = spent / (checks * CHECK_S) * 100
        trusted = sum(1 for q in scrub.queues for f in q.watched() if f.trusted is not None)

    print(f"machine: {os.cpu_count()} CPUs, load average {_load()}")
    print(f"before: a full chain pass every {PASS_S:.0f} s: {before_s:.2f} s of CPU = {before_pct:.2f} % of one core")
    print(
        f"after: initial catch-up {catch_up_s:.2f} s of CPU (once); then {checks} checks ({checks * CHECK_S:.0f} s "
        f"of run clock, {scrub.passes - passes} rolling passes): {spent:.3f} s of CPU = {after_pct:.3f} % of one "
        f"core; read {(scrub.bytes_read - read) / MB:.1f} MB (rolling {(scrub.rolling_bytes - rolling) / MB:.1f}, "
        f"slow {(scrub.slow_bytes - slow) / MB:.1f}), {scrub.checkpoints - walked} checkpoints walked, "
        f"{scrub.stats - stats} stats; {trusted} files trusted by fingerprint"
    )
    verdict = "met" if after_pct <= GOAL_PCT else "not met"
    print(f"target scrub_night_cost: {after_pct:.3f} % of one core (goal <= {GOAL_PCT}): {verdict}")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


if __name__ == "__main__":
    main()
