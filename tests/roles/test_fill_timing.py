"""The clock of tick -> fill latency: `time.perf_counter_ns()` is one clock for every process of the machine,
so a reading taken in market_role and one taken later in execution_role subtract to a real duration
(issue 11, item 7; docs/architecture.md "Time")."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

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
