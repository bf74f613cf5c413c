"""A machine that slept: the gap is found from any of the three clocks, once, and named as the cause of a
STOP that raced it on resume; a real run paused (SIGSTOP of every process, standing in for a suspend) for
longer than its stale bound ends in MACHINE_SUSPENDED."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from minibot.journal.atomic import write_critical_json
from minibot.reasons import ReasonCode
from minibot.watchdog.suspend import SUSPEND_MIN_WALL_S, SuspendWatch, gap_bound_s
from tests.watchdog.runproc import NoreRun, heartbeat_pids, nore_verify, queue_events, status, wait_until, write_config

pytestmark = pytest.mark.process


class Clocks:
    """(monotonic, boot, wall) the test moves by hand."""

    def __init__(self) -> None:
        self.now = [100.0, 100.0, 1_700_000_000.0]

    def __call__(self) -> tuple[float, float, float]:
        return self.now[0], self.now[1], self.now[2]

    def advance(self, mono: float, boot: float, wall: float) -> None:
        self.now = [self.now[0] + mono, self.now[1] + boot, self.now[2] + wall]


def _watch(clocks: Clocks) -> SuspendWatch:
    watch = SuspendWatch(10.0, lambda: int(clocks.now[0] * 1000), clocks)
    watch.observe()
    return watch


@pytest.mark.parametrize(
    ("mono", "boot", "wall", "suspended"),
    [
        (0.05, 0.05, 0.05, False),  # a loop step
        (9.0, 9.0, 9.0, False),  # a slow step, within the bound
        (0.0, 300.0, 300.0, True),  # Linux suspend: CLOCK_MONOTONIC stood still, the boot and wall clocks did not
        (300.0, 300.0, 300.0, True),  # Windows sleep (monotonic advances), or a paused process
        (0.0, 0.0, 300.0, True),  # only the wall clock moved: a suspend no other clock saw, or the clock was set
    ],
)
def test_a_gap_on_any_clock_beyond_the_bound_is_a_suspension(
    mono: float, boot: float, wall: float, suspended: bool
) -> None:
    clocks = Clocks()
    watch = _watch(clocks)
    clocks.advance(mono, boot, wall)
    finding = watch.finding()
    if not suspended:
        assert finding is None
        return
    assert finding is not None and finding[0] is ReasonCode.MACHINE_SUSPENDED
    assert "300.0 s" in finding[1] and "asleep or hibernating" in finding[1]
    assert watch.finding() is None, "reported once"


def test_the_bound_scales_with_speed_but_not_below_the_wall_floor() -> None:
    assert gap_bound_s(1.0) == 30.0
    assert gap_bound_s(60.0) == SUSPEND_MIN_WALL_S


def _flag(run_dir: Path, ts: int, code: str) -> dict[str, object]:
    payload = {"reason_code": code, "component": "market_role", "detail": "no market data for 480000 ms"}
    write_critical_json(run_dir / "STOP.flag", {"id": "x", "ts": ts, "payload": payload})
    return payload


def test_a_stop_raised_after_the_suspension_began_is_its_consequence(tmp_path: Path) -> None:
    clocks = Clocks()
    watch = _watch(clocks)  # the last observation before the gap: run clock 100000 ms
    clocks.advance(300.0, 300.0, 300.0)
    assert watch.finding() is not None
    raced = _flag(tmp_path, 400_000, "MARKET_DATA_STALE")
    cause = watch.cause(tmp_path, raced)
    assert cause is not None and cause["reason_code"] == "MACHINE_SUSPENDED"
    assert cause["followed_by"].startswith("MARKET_DATA_STALE from market_role")
    earlier = _flag(tmp_path, 99_000, "BINANCE_BANNED")
    assert watch.cause(tmp_path, earlier) == earlier, "a STOP from before the gap stays the cause"


def test_no_suspension_reported_changes_nothing(tmp_path: Path) -> None:
    watch = _watch(Clocks())
    held = _flag(tmp_path, 400_000, "MARKET_DATA_STALE")
    assert watch.cause(tmp_path, held) == held


def _processes(supervisor_pid: int) -> list[psutil.Process]:
    sup = psutil.Process(supervisor_pid)
    return [*sup.children(recursive=True), sup]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP/SIGCONT stand in for a suspend on POSIX")
def test_a_paused_run_ends_in_machine_suspended(tmp_path: Path) -> None:
    # At --speed 60 the market data stale bound (stale_stream_ms + unreachable_threshold_ms = 210 s of run
    # clock) is 3.5 s of wall time; the pause lasts 8 s.
    config = write_config(tmp_path, watchdog={"restart_max": 0})
    run = NoreRun(tmp_path / "var", "--config", str(config), "--sim", "--speed", "60", "--duration", "7h")
    try:
        run_dir = run.run_dir()
        wait_until(lambda: {"market_role", "strategy_role"} <= set(heartbeat_pids(run_dir)), 60, "heartbeats")
        time.sleep(1.0)
        procs = _processes(run.proc.pid)
        for proc in procs:
            os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(8.0)
        for proc in procs:  # the supervisor resumes last: the roles get every chance to STOP first
            os.kill(proc.pid, signal.SIGCONT)
        code = run.wait(120)
    finally:
        for proc in _processes(run.proc.pid) if run.proc.poll() is None else []:
            os.kill(proc.pid, signal.SIGCONT)
        run.kill()
    assert code == 3, run.output
    assert "STOP: MACHINE_SUSPENDED from watchdog_role: nothing in the supervisor ran for" in run.output, run.output
    ended = status(run_dir)
    assert ended["stop"]["reason_code"] == "MACHINE_SUSPENDED"
    codes = [e["payload"]["reason_code"] for e in queue_events(run_dir, "stop_journal")]
    assert "MACHINE_SUSPENDED" in codes
    assert "ROLE_RESTART_LIMIT" not in codes, "no role was judged silent because of the pause"
    _, verdict = nore_verify(run_dir)
    assert verdict["verdict"] == "FAIL"
    assert verdict["reasons"][0]["code"] == "MACHINE_SUSPENDED", verdict["reasons"]
