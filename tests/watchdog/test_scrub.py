"""Damage a running night must notice itself (R-T2, R-T6), not leave to `nore verify` the next morning: a
byte flipped in a tick every consumer has already read, an acks journal deleted, a queue cut in half."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from minibot.config.loader import load_config
from minibot.config.views import QueuesConfig
from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.journal.atomic import read_critical_json
from minibot.journal.context import RunContext
from minibot.journal.layout import QueuePaths
from minibot.journal.stop import read_stop
from minibot.journal.verify import verify_path
from minibot.reasons import ReasonCode
from minibot.watchdog.checks import QueueWatch
from minibot.watchdog.scrub import SCRUB_BOUND_RUN_S, SCRUB_MIN_BYTES, QueueScrub
from tests.watchdog.runproc import NoreRun, heartbeat_pids, nore_verify, wait_until

pytestmark = pytest.mark.process

CORE = ["market_role", "strategy_role", "risk_role", "execution_role"]
SPEED = 5.0
LOADED_MACHINE_SLACK_MS = 30_000  # run clock: 6 s of wall time at --speed 5 on a busy 2-core machine


def test_scrub_passes_read_each_byte_once_within_a_budget_and_find_damage_behind_them(tmp_path: Path) -> None:
    ctx = RunContext(
        tmp_path, "20260101_000000", "a" * 64, lambda: 1_767_225_600_000, QueuesConfig.from_config(load_config())
    )
    producer = ctx.producer("market_ticks", "market_role")
    for _ in range(60):  # ~3 MB in 60 batches
        producer.publish([producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"]) for _ in range(100)])
    producer.close()
    inbox = ctx.queue_paths("market_ticks").folder / "inbox.jsonl"
    size = inbox.stat().st_size
    now = [0.0]  # wall clock of the checks, in seconds
    scrub = QueueScrub({"market_ticks": inbox.parent}, pass_wall_s=3600.0, clock=lambda: now[0])  # minimum budget
    calls = 0
    while scrub.passes == 0:
        before = scrub.bytes_read
        assert scrub.check() is None
        assert scrub.bytes_read - before <= SCRUB_MIN_BYTES + size // 60  # at most one batch over the budget
        calls += 1
    assert scrub.bytes_read == size and calls >= size // (SCRUB_MIN_BYTES + size // 60)
    # Damage behind the scan (in bytes the last pass has read) is found by the next pass, which starts
    # pass_wall_s after the last one started, not before.
    data = bytearray(inbox.read_bytes())
    data[100] ^= 0x01
    inbox.write_bytes(bytes(data))
    now[0] = 3599.0
    assert [scrub.check() for _ in range(calls + 1)] == [None] * (calls + 1)
    assert scrub.bytes_read == size
    now[0] = 3600.0
    findings = [scrub.check() for _ in range(calls + 1)]
    found = [f for f in findings if f is not None]
    assert found and found[0][0] is ReasonCode.LINE_HASH_MISMATCH and "inbox.jsonl:1 (0)" in found[0][1], found
    # A queue cut below what its chain records is found by the next check, whatever the scan position.
    inbox.write_bytes(bytes(data[: size // 2]))
    code, detail = QueueWatch(ctx.queues_dir, ["market_ticks"], []).check(max_lag=10**9) or (None, "")
    assert code is ReasonCode.CURSOR_DESYNC and "truncated" in detail


def test_the_watchdog_sees_a_deleted_acks_journal(tmp_path: Path) -> None:
    ctx = RunContext(
        tmp_path, "20260101_000000", "a" * 64, lambda: 1_767_225_600_000, QueuesConfig.from_config(load_config())
    )
    producer = ctx.producer("market_ticks", "market_role")
    producer.publish([producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"]) for _ in range(3)])
    producer.close()
    consumer = ctx.consumer("market_ticks", "risk_role")
    consumer.poll()
    consumer.ack()
    consumer.close()
    watch = QueueWatch(ctx.queues_dir, ["market_ticks"], ["risk_role"])
    assert watch.check(max_lag=10) is None
    (ctx.queue_paths("market_ticks").folder / "acks.risk_role.jsonl").unlink()
    code, detail = watch.check(max_lag=10) or (None, "")
    assert code is ReasonCode.CURSOR_DESYNC and "acks.risk_role.jsonl does not exist" in detail, detail


def _consumed_lines(paths: QueuePaths) -> int:
    """Lines every consumer of the queue has committed (by their cursor checkpoints)."""
    cursors = [paths.cursor(c) for c in paths.contract.consumers]
    if not all(p.exists() for p in cursors):
        return 0
    return min(int(read_critical_json(p)["line"]) for p in cursors)


def _start(tmp_path: Path) -> tuple[NoreRun, Path, QueuePaths]:
    run = NoreRun(tmp_path / "var", "--sim", "--speed", str(SPEED), "--duration", "7h")
    run_dir = run.run_dir()
    wait_until(lambda: set(CORE) <= set(heartbeat_pids(run_dir)), 90, "heartbeats of the core roles")
    paths = QueuePaths.of(run_dir / "queues", "market_ticks")
    wait_until(lambda: _consumed_lines(paths) >= 3, 90, "three ticks read by every consumer")
    return run, run_dir, paths


def _run_clock_ms(run_dir: Path) -> int:
    clock = read_critical_json(run_dir / "run.json")["clock"]
    return int(clock["start_ms"] + (time.time() - clock["anchor_unix_s"]) * 1000 * clock["speed"])


def test_a_byte_flipped_in_a_consumed_tick_stops_the_run_within_the_bound(tmp_path: Path) -> None:
    run, run_dir, paths = _start(tmp_path)
    try:
        inbox = paths.folder / "inbox.jsonl"
        first = inbox.read_bytes().split(b"\n", 1)[0]
        at = first.index(b'"price":') + len(b'"price":')  # a digit inside the JSON of line 1
        with inbox.open("r+b") as fh:  # in place, as a failing disk or a stray editor would
            fh.seek(at)
            fh.write(b"9" if first[at : at + 1] != b"9" else b"8")
        flipped_ms = _run_clock_ms(run_dir)
        code = run.wait(120)
    finally:
        run.kill()
    assert code == 3, run.output
    stop = read_stop(run_dir)
    assert stop["payload"]["reason_code"] == "LINE_HASH_MISMATCH", stop
    assert "market_ticks/inbox.jsonl:1 (" in stop["payload"]["detail"], stop
    assert stop["ts"] - flipped_ms <= SCRUB_BOUND_RUN_S * 1000 + LOADED_MACHINE_SLACK_MS, (stop["ts"], flipped_ms)
    code, verdict = nore_verify(run_dir)
    assert code == 1 and any(r["code"] == "LINE_HASH_MISMATCH" for r in verdict["reasons"]), verdict["reasons"]


def test_a_deleted_acks_journal_stops_the_run(tmp_path: Path) -> None:
    run, run_dir, paths = _start(tmp_path)
    try:
        (paths.folder / "acks.jsonl").unlink()  # strategy_role's acks of market_ticks
        code = run.wait(120)
    finally:
        run.kill()
    assert code == 3, run.output
    stop = read_stop(run_dir)["payload"]
    assert stop["reason_code"] == "CURSOR_DESYNC" and "acks.jsonl" in stop["detail"], stop


def test_a_queue_cut_in_half_stops_the_run_and_is_not_repaired(tmp_path: Path) -> None:
    run, run_dir, paths = _start(tmp_path)
    try:
        inbox = paths.folder / "inbox.jsonl"
        size = inbox.stat().st_size
        with inbox.open("r+b") as fh:
            fh.truncate(size // 2)
        code = run.wait(120)
    finally:
        run.kill()
    assert code == 3, run.output
    stop = read_stop(run_dir)["payload"]
    assert stop["reason_code"] == "CURSOR_DESYNC" and "truncated" in stop["detail"], stop
    assert not (paths.folder / "recovery.jsonl").exists(), "the cut was repaired away as if it were a torn write"
    report = verify_path(run_dir / "queues")
    assert "CURSOR_DESYNC" in {p.reason_code for p in report.problems}, report.problems
