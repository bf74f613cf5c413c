"""Queue benchmark (issue 3): validation cost, producer -> consumer throughput and latency.

    .venv/bin/python bench/bench_queue.py [--events 200000] [--batch 100]

Prints, measured in the same run:
- validate_event cost per typical event (envelope + payload), in microseconds (target < 20 us);
- baseline: a raw loop of orjson.dumps + sha256 + file write of the same events (no validation, no reader);
- end to end: a producer process (validate + frame + append, group commit fsync every 10 ms) and a polling
  consumer process (read + verify hash + decode + validate + ack + cursor) in parallel, events/s from the
  first publish to the last ack, and the ratio to the baseline (issue 14: >= 100,000 events/s, ratio >= 0.5
  on a quiet machine);
- publish -> consume latency p50/p99 (target p99 < 5 ms), from a wall-clock stamp in each payload;
- the machine's CPUs and load, then one `target ...: met|not met` line per issue-14 target.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import orjson

from minibot.contracts.envelope import build_envelope, encode_event, validate_event
from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.ids import random_id
from minibot.journal.context import RunContext, scratch_queues

TARGET_RATE = 100_000.0  # events/s end to end (issue 14, on a quiet machine)
TARGET_RATIO = 0.5  # of the raw dumps + sha256 + write loop
QUEUES = replace(
    scratch_queues(), base_dir="queues", fsync="group:10ms", segment_max_bytes=64 << 20, batch_max_events=1000
)


def _ctx(run_dir: Path) -> RunContext:
    return RunContext(run_dir, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: int(time.time() * 1000), QUEUES)


def _event(n: int) -> dict[str, object]:
    payload = dict(EXAMPLE_PAYLOADS["market_tick"], trade_id=n, sent_ns=time.perf_counter_ns())
    return build_envelope(
        type_="market_tick",
        payload=payload,
        ts=1_723_161_255_342 + n,
        id_=random_id(),
        source="market_role",
        run_id=EXAMPLE_RUN_ID,
        cmdline_hash=EXAMPLE_CMDLINE_HASH,
    )


def bench_validate(n: int = 100_000) -> float:
    """Microseconds per validate_event of a typical market_tick."""
    event = _event(0)
    start = time.perf_counter()
    for _ in range(n):
        validate_event(event)
    return (time.perf_counter() - start) / n * 1e6


def bench_baseline(folder: Path, events: int, batch: int) -> float:
    """Events/s of the raw loop: orjson.dumps + sha256 + one write per batch."""
    path = folder / "baseline.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    start = time.perf_counter()
    for first in range(0, events, batch):
        lines = []
        for n in range(first, min(first + batch, events)):
            body = orjson.dumps(_event(n))
            lines.append(b"sha256:" + hashlib.sha256(body).hexdigest().encode() + b":" + body + b"\n")
        os.write(fd, b"".join(lines))
    os.fsync(fd)
    os.close(fd)
    return events / (time.perf_counter() - start)


def _produce(run_dir: Path, events: int, batch: int, start_at: float, rate: float) -> None:
    """Publish `events` in batches; `rate` > 0 paces them (events/s), 0 publishes as fast as possible."""
    producer = _ctx(run_dir).producer("market_ticks", "market_role")
    while time.time() < start_at:
        time.sleep(0.0005)
    t0 = time.perf_counter()
    for first in range(0, events, batch):
        if rate:
            while time.perf_counter() - t0 < first / rate:
                time.sleep(0.0002)
        producer.publish([_event(n) for n in range(first, min(first + batch, events))])
        producer.flush_if_due()
    producer.close()


def _consume(run_dir: Path, events: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    consumer = _ctx(run_dir).consumer("market_ticks", "strategy_role")
    latencies: list[float] = []
    got = 0
    first_ns = 0
    deadline = time.monotonic() + 600
    while got < events and time.monotonic() < deadline:
        records = consumer.poll()
        if not records:
            time.sleep(0.0002)
            continue
        now = time.perf_counter_ns()  # system-wide: comparable with the producer process's stamp
        if not first_ns:
            first_ns = records[0].event["payload"]["sent_ns"]
        latencies.extend((now - r.event["payload"]["sent_ns"]) / 1e6 for r in records)
        got += len(records)
        consumer.ack()
    consumer.close()
    out.put((got, (time.perf_counter_ns() - first_ns) / 1e9, latencies))


def bench_end_to_end(run_dir: Path, events: int, batch: int, rate: float = 0) -> tuple[float, list[float]]:
    """(events/s, latencies ms) of producer and consumer processes running in parallel."""
    _ctx(run_dir).queue_paths("market_ticks").create()
    results: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    consumer = mp.Process(target=_consume, args=(run_dir, events, results))
    consumer.start()
    producer = mp.Process(target=_produce, args=(run_dir, events, batch, time.time() + 1.0, rate))
    producer.start()
    got, seconds, latencies = results.get(timeout=900)
    producer.join()
    consumer.join()
    assert got == events, f"consumed {got} of {events}"
    return events / seconds, latencies


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--paced-rate", type=float, default=5000.0, help="events/s for the latency run")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {_load()}")
    us = bench_validate()
    encode_us = _time_encode()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = bench_baseline(Path(tmp), args.events, args.batch)
        rate, saturated = bench_end_to_end(Path(tmp) / "run", args.events, args.batch)
        paced_events = int(args.paced_rate * 5)
        _, latencies = bench_end_to_end(Path(tmp) / "paced", paced_events, 10, args.paced_rate)
    p50, p99 = _percentiles(latencies)
    s50, s99 = _percentiles(saturated)
    print(f"validate_event (envelope + payload): {us:.2f} us/event (target < 20)")
    print(f"encode_event (validate + serialize + frame): {encode_us:.2f} us/event")
    print(f"baseline raw dumps+sha256+write: {baseline:,.0f} events/s")
    print(
        f"end to end producer->consumer (validate, group commit 10 ms, ack): {rate:,.0f} events/s; "
        f"ratio to baseline {rate / baseline:.2f}"
    )
    print(
        f"publish -> consume latency at {args.paced_rate:,.0f} events/s paced (batches of 10): p50 {p50:.2f} ms, "
        f"p99 {p99:.2f} ms (target p99 < 5 ms)"
    )
    print(f"(at saturation the latency is queueing delay: p50 {s50:.1f} ms, p99 {s99:.1f} ms)")
    print(f"machine load now: {_load()}")
    print(_target("queue end to end", rate, "events/s", TARGET_RATE))
    print(_target("queue ratio to raw loop", rate / baseline, "", TARGET_RATIO))


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def _target(name: str, value: float, unit: str, goal: float) -> str:
    """The issue-14 target line: `target <name>: <value> <unit> (goal >= <goal>): met|not met`."""
    shown = f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    unit = f" {unit}" if unit else ""
    goal_shown = f"{goal:,.0f}" if goal >= 100 else f"{goal:.2f}"
    return f"target {name}: {shown}{unit} (goal >= {goal_shown}): {'met' if value >= goal else 'not met'}"


def _percentiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values), values[max(0, int(len(values) * 0.99) - 1)]


def _time_encode(n: int = 50_000) -> float:
    event = _event(0)
    start = time.perf_counter()
    for _ in range(n):
        encode_event(event)
    return (time.perf_counter() - start) / n * 1e6


if __name__ == "__main__":
    main()
