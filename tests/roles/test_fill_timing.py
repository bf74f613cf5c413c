"""Pipeline latency (tick receipt -> fill durable): its clock, `time.perf_counter_ns()`, is one clock for every
process of the machine, so a reading taken in market_role and one taken later in execution_role subtract to a
real duration (issue 11, item 7; docs/architecture.md "Time"); and the FillTimer stops it when the fill has
completed the fills queue's fsync policy (issue 14, item 2; docs/core.md "Pipeline latency")."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.ids import deterministic_id
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.producer import Producer
from minibot.roles.fill_timing import FillTimer
from minibot.roles.runner import queue_events

pytestmark = pytest.mark.process

ROUND_TRIPS = 200
# Answers each line on stdin with its own perf_counter_ns() reading.
ECHO_CLOCK = (
    "import sys, time\n"
    "for _ in sys.stdin:\n"
    "    sys.stdout.write(f'{time.perf_counter_ns()}\\n')\n"
    "    sys.stdout.flush()\n"
)


def test_perf_counter_readings_of_two_processes_are_ordered_like_the_events() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", ECHO_CLOCK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        gaps = []
        for _ in range(ROUND_TRIPS):
            before = time.perf_counter_ns()
            child.stdin.write("?\n")
            child.stdin.flush()
            theirs = int(child.stdout.readline())
            after = time.perf_counter_ns()
            # The child read its clock after we asked and before we got the answer: the same clock.
            assert before < theirs < after, (before, theirs, after)
            gaps.append(after - before)
    finally:
        child.stdin.close()
        child.wait(10)
    assert min(gaps) < 15_600_000, "finer than the 15.6 ms step of time.time() on Windows before 3.13"


RUN_ID = "20240808_235413"
TICK = dict(EXAMPLE_PAYLOADS["market_tick"], exchange_ts=None)


def _context(tmp_path: Path, fills_fsync: str) -> RunContext:
    queues = replace(scratch_queues(), fsync_overrides={"fills": fills_fsync})
    return RunContext(tmp_path, RUN_ID, "c" * 64, lambda: 1_723_161_255_342, queues)


def _tick(n: int, recv_perf_ns: int | None) -> dict[str, Any]:
    payload = dict(TICK) if recv_perf_ns is None else {**TICK, "recv_perf_ns": recv_perf_ns}
    return {"id": deterministic_id("tick", str(n)), "type": "market_tick", "payload": payload}


def _fills(producer: Producer, tick_ids: list[str]) -> list[dict[str, Any]]:
    """Fill events published for real (their durability is the fills producer's)."""
    events = [
        producer.event("fill", {**EXAMPLE_PAYLOADS["fill"], "tick_id": t}, id_=deterministic_id("fill", str(i)))
        for i, t in enumerate(tick_ids)
    ]
    producer.publish(events)
    return events


def _timing(ctx: RunContext) -> list[dict[str, Any]]:
    return [e["payload"] for e in queue_events(ctx, "timing")]


def test_a_fill_is_timed_from_its_ticks_receipt_to_its_fsync(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "always")
    fills, timing = ctx.producer("fills", "execution_role"), ctx.producer("timing", "execution_role")
    timer = FillTimer("execution_role", RUN_ID, timing, fills)
    received = time.perf_counter_ns() - 5_000_000
    ticks = [_tick(0, received), _tick(1, None)]
    before = time.perf_counter_ns()
    made = _fills(fills, [ticks[0]["id"], ticks[1]["id"]])
    after = time.perf_counter_ns()
    timer.on_batch("market_ticks", ticks, {"fills": made, "order_results": []})
    # A fill in a batch that is not of ticks has no tick to be timed from (the executor never makes one).
    timer.on_batch("order_intents", [], {"fills": made[:1]})
    (event,) = _timing(ctx)
    assert event["kind"] == "tick_to_fill" and event["cause_id"] == made[0]["id"] and event["tick_id"] == ticks[0]["id"]
    # The clock stops when the fsync of the fill returned: within the publish call, not after it.
    assert (before - received) / 1e6 <= event["latency_ms"] <= (after - received) / 1e6 + 0.001
    assert timer.published == 1 and timer.untimed == 2  # the unstamped tick's fill, the fill outside a tick batch


def test_under_group_commit_a_fill_is_timed_when_the_commit_covers_it(tmp_path: Path) -> None:
    # The group interval counts from the file's last fsync (its opening at first): a write later than that is
    # committed at once, which is the policy. So the test needs its publish inside the interval; a busy box may
    # deschedule it for longer between opening and publishing, then it tries again on a fresh queue (bounded).
    interval_s = 0.2
    for attempt in range(5):
        ctx = _context(tmp_path / str(attempt), f"group:{int(interval_s * 1000)}ms")
        opened = time.monotonic()
        fills, timing = ctx.producer("fills", "execution_role"), ctx.producer("timing", "execution_role")
        timer = FillTimer("execution_role", RUN_ID, timing, fills)
        fills.flush_if_due()
        tick = _tick(0, time.perf_counter_ns())
        timer.on_batch("market_ticks", [tick], {"fills": _fills(fills, [tick["id"]])})
        timer.publish_durable()
        if time.monotonic() - opened < interval_s:
            break
    else:
        pytest.fail("the machine never let 5 attempts open a queue and publish a fill within 200 ms")
    assert _timing(ctx) == [] and fills.durable_ns() is None, "written, not yet fsynced: not durable"
    time.sleep(interval_s + 0.01)
    fills.flush_if_due()  # hands the fsync to the flusher thread (minibot/journal/flusher.py)
    deadline = time.monotonic() + 5.0
    while fills.durable_ns() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    timer.publish_durable()
    (event,) = _timing(ctx)
    assert event["latency_ms"] >= interval_s * 1000  # the wait for the group commit is pipeline latency


def test_without_fsync_a_fill_is_durable_when_written(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "none")
    fills, timing = ctx.producer("fills", "execution_role"), ctx.producer("timing", "execution_role")
    timer = FillTimer("execution_role", RUN_ID, timing, fills)
    tick = _tick(0, time.perf_counter_ns())
    timer.on_batch("market_ticks", [tick], {"fills": _fills(fills, [tick["id"]])})
    (event,) = _timing(ctx)
    assert 0.0 <= event["latency_ms"] < 1_000.0
    # A fill still waiting for its group commit when the process ends is counted, not timed.
    pending = FillTimer("execution_role", RUN_ID, timing, ctx.producer("fills", "execution_role", "group:10000ms"))
    pending.on_batch("market_ticks", [tick], {"fills": _fills(pending.fills, [tick["id"]])})
    pending.close()
    assert pending.published == 0 and pending.untimed == 1
