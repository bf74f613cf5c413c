"""The run clock: on the system-wide perf counter, shared across processes through run.json's anchor."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time

import pytest

from minibot.clock import NS_PER_MS, RunClock
from minibot.watchdog.rundir import run_document

START_MS = 1_700_000_000_000


def test_the_perf_anchor_is_used_as_it_is_whatever_the_wall_clock_says() -> None:
    ten_s_ago = time.perf_counter_ns() - 10_000 * NS_PER_MS
    # A wall anchor a day off (the wall clock was set since): the perf anchor alone decides.
    doc = {"start_ms": START_MS, "speed": 60.0, "anchor_unix_s": time.time() - 86_400, "anchor_perf_ns": ten_s_ago}
    elapsed = RunClock.from_run(doc).elapsed_ms()
    assert 600_000 <= elapsed < 600_000 + 60 * 1000  # 10 real s at 60x, within a second of real time


def test_without_a_perf_anchor_the_wall_anchor_is_mapped() -> None:
    doc = {"start_ms": START_MS, "speed": 60.0, "anchor_unix_s": time.time() - 10.0}
    elapsed = RunClock.from_run(doc).elapsed_ms()
    assert 600_000 - 60_000 < elapsed < 600_000 + 60_000


def test_the_clock_moves_in_fine_steps_at_speed_60() -> None:
    clock = RunClock(START_MS, 60.0)
    seen = {clock.now_ms() for _ in range(20_000)}
    values = sorted(seen)
    steps = [b - a for a, b in itertools.pairwise(values)]
    # Not GetTickCount64's 15.6 ms (936 run ms at 60x): distinct readings a few run ms apart.
    assert len(values) > 10 and min(steps) < 100, values[:10]


def test_perf_ns_at_is_the_perf_reading_at_which_the_clock_reads_a_run_time() -> None:
    clock = RunClock(START_MS, 60.0, anchor_perf_ns=5_000)
    assert clock.perf_ns_at(START_MS + 60_000) == 5_000 + 1_000 * NS_PER_MS  # a run minute = a real second
    live = RunClock(START_MS, 60.0)
    due = live.now_ms() + 600  # 10 real ms ahead
    while time.perf_counter_ns() < live.perf_ns_at(due) + 100_000:  # (+0.1 ms: the clock truncates to ms)
        pass
    assert live.now_ms() >= due


def test_seconds_until_is_measured_from_the_perf_counter_not_the_truncated_run_ms() -> None:
    # 0.9 ms into run millisecond 0: now_ms() reads 0, yet run ms 1000 is only ~999.1 ms away.
    clock = RunClock(0, 1.0, time.perf_counter_ns() - 900_000)
    assert 0.9 < clock.seconds_until(1000) < 0.9995
    assert clock.seconds_until(0) == 0.0  # already passed: no negative wait
    fast = RunClock(0, 60.0, time.perf_counter_ns())
    assert fast.seconds_until(60_000) == pytest.approx(1.0, abs=0.01)


def test_a_speed_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="speed must be > 0"):
        RunClock(START_MS, 0.0)


CHILD = """
import json, sys
from minibot.clock import RunClock
clock = RunClock.from_run(json.loads(sys.argv[1]))
print(clock.now_ms(), flush=True)
"""


@pytest.mark.process
def test_another_process_reads_the_same_run_clock() -> None:
    clock = RunClock(START_MS, 60.0)
    doc = {
        "start_ms": START_MS,
        "speed": 60.0,
        "anchor_unix_s": time.time() - 3600,
        "anchor_perf_ns": clock.anchor_perf_ns,
    }
    before = clock.now_ms()
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(doc)], capture_output=True, text=True, timeout=60)
    after = clock.now_ms()
    theirs = int(done.stdout)
    assert before <= theirs <= after, (before, theirs, after, done.stderr)


@pytest.mark.process
def test_run_json_carries_the_perf_anchor_and_roles_start_on_it() -> None:
    clock = RunClock(START_MS, 5.0)
    doc = run_document("r", "nore run", {}, clock, START_MS / 1000.0, None, {"pid": 1})
    assert doc["clock"] == {
        "start_ms": START_MS,
        "speed": 5.0,
        "anchor_unix_s": START_MS / 1000.0,
        "anchor_perf_ns": clock.anchor_perf_ns,
    }
    assert RunClock.from_run(json.loads(json.dumps(doc["clock"]))).anchor_perf_ns == clock.anchor_perf_ns
