"""The three core roles as real processes on real queues, fed the real BTCUSDT recording (issue 5 items 5+6).

One run (module fixture): strategy_role, risk_role and execution_role started as
`python -m minibot.roles.<role> --run-dir RUN_DIR`, a market_role stand-in publishing recorded ticks on the
run clock (speed 60), each role killed with kill -9 once mid-stream and restarted, then a graceful shutdown.
The tests check the outputs, exactly-once delivery, the journals, the portfolio snapshot, timing events,
and `nore replay` on the run (identical, then a tampered fill, then a damaged journal).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from minibot.contracts.codec import encode_line
from minibot.exitcodes import ExitCode
from minibot.journal.atomic import read_critical_json
from minibot.journal.context import RunContext
from minibot.journal.cursor import Cursor
from minibot.journal.layout import INBOX
from minibot.journal.reader import iter_lines
from minibot.journal.verify import verify_path
from minibot.model.portfolio import Portfolio
from minibot.rolenames import TRADING_CORE_ROLES
from minibot.roles.core_role import ROLE_INPUTS
from minibot.roles.runner import queue_events, read_input_log
from minibot.runlayout import INPUT_LOG_STEM, role_dir
from tests.roles.core_run import TickFeeder, make_run_dir, recorded_ticks, request_shutdown, start_role

pytestmark = [pytest.mark.process, pytest.mark.usefixtures("binance_data")]

KILL_AT = {"risk_role": 0.3, "execution_role": 0.55, "strategy_role": 0.8}  # share of ticks published
OUTPUT_QUEUES = ("signals", "risk_actions", "order_intents", "order_results", "fills", "timing")


def _wait(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _acked(ctx: RunContext, role: str, queue: str) -> int:
    """Lines of `queue` the role has acked, as its cursor file says (it may lag the acks, never lead them)."""
    path = ctx.queue_paths(queue).cursor(role)
    return Cursor.from_dict(read_critical_json(path)).line if path.exists() else 0


def _drained(ctx: RunContext) -> bool:
    """Every role has acked every line of every input (a file state, not a quiet spell).

    The cursors are read before the queues are counted: a role acks a batch only after publishing its
    outputs, so a batch still in work leaves its role's cursor short of a line already in the queue, and an
    acked batch's outputs are in the queues counted afterwards."""
    acked = {(role, q): _acked(ctx, role, q) for role in TRADING_CORE_ROLES for q in ROLE_INPUTS[role]}
    lines = {q: sum(1 for _ in iter_lines(ctx.queue_paths(q).folder, INBOX)) for _, q in acked}
    return all(n >= lines[q] for (_, q), n in acked.items())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunContext, list[str], dict[str, int]]:
    """One complete run with a kill -9 + restart of every role; returns (ctx, tick ids, exit codes)."""
    run_dir = tmp_path_factory.mktemp("run")
    ctx = make_run_dir(run_dir)
    procs = {role: start_role(role, run_dir) for role in TRADING_CORE_ROLES}
    ticks = recorded_ticks()
    feeder = TickFeeder(ctx, ticks)
    feeder.start()
    try:
        for role, share in sorted(KILL_AT.items(), key=lambda kv: kv[1]):
            target = share * len(ticks)
            _wait(lambda: feeder.published >= target, 60, f"{share:.0%} of the ticks")  # noqa: B023
            assert procs[role].poll() is None, f"{role} died: {(run_dir / f'{role}.out').read_text()}"
            procs[role].kill()
            assert procs[role].wait(timeout=30) != 0
            procs[role] = start_role(role, run_dir)
        feeder.join(timeout=60)
        assert not feeder.is_alive() and feeder.error is None, feeder.error
        _wait(lambda: _drained(ctx), 120, "every role to ack all of its inputs")
        request_shutdown(run_dir)
        codes = {role: proc.wait(timeout=60) for role, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    return ctx, feeder.ids, codes


def _events(ctx: RunContext, queue: str) -> list[dict[str, Any]]:
    return list(queue_events(ctx, queue))


def test_roles_end_cleanly_and_trade(run: tuple[RunContext, list[str], dict[str, int]]) -> None:
    ctx, _ticks, codes = run
    logs = {role: (ctx.run_dir / f"{role}.out").read_text() for role in TRADING_CORE_ROLES}
    assert codes == dict.fromkeys(TRADING_CORE_ROLES, ExitCode.OK), logs
    assert not (ctx.run_dir / "STOP.flag").exists()
    counts = {q: len(_events(ctx, q)) for q in OUTPUT_QUEUES}
    assert counts["signals"] >= 5 and counts["order_intents"] >= 2 and counts["fills"] >= 2, counts


def test_nothing_lost_or_duplicated(run: tuple[RunContext, list[str], dict[str, int]]) -> None:
    ctx, ticks, _ = run
    assert [e["id"] for e in _events(ctx, "market_ticks")] == ticks
    every: list[str] = []
    for queue in (*OUTPUT_QUEUES, "health"):
        ids = [e["id"] for e in _events(ctx, queue)]
        assert len(ids) == len(set(ids)), f"duplicate ids in {queue}"
        every += ids
    assert len(every) == len(set(every))
    # Every role consumed every line of each input, each exactly once (the input logs are contiguous).
    for role in TRADING_CORE_ROLES:
        covered: dict[str, int] = {}
        for batch in read_input_log(ctx.run_dir, role, ctx.run_id):
            assert batch["first_line"] == covered.get(batch["queue"], 0), f"{role} skipped or repeated lines"
            covered[batch["queue"]] = batch["last_line"] + 1
        for queue in ROLE_INPUTS[role]:
            assert covered.get(queue, 0) == len(_events(ctx, queue)), f"{role} did not consume all of {queue}"
    # Causes are complete: each signal got exactly one risk outcome, each intent one final result.
    signals = _events(ctx, "signals")
    assert {s["payload"]["cause_id"] for s in signals} <= set(ticks)
    outcomes = Counter(e["payload"]["cause_id"] for q in ("order_intents", "risk_actions") for e in _events(ctx, q))
    assert all(outcomes[s["id"]] == 1 for s in signals), "a signal without exactly one risk outcome"
    intents = {i["id"]: i["payload"] for i in _events(ctx, "order_intents")}
    assert all(i["tick_id"] in set(ticks) for i in intents.values())
    results = Counter(r["payload"]["cause_id"] for r in _events(ctx, "order_results"))
    assert results == Counter(list(intents)), "an intent without exactly one order_result"
    coids = {i["client_order_id"] for i in intents.values()}
    assert {f["payload"]["client_order_id"] for f in _events(ctx, "fills")} <= coids


def test_journals_verify_clean(run: tuple[RunContext, list[str], dict[str, int]]) -> None:
    ctx, _, _ = run
    report = verify_path(ctx.queues_dir)
    assert report.ok, [str(p) for p in report.problems[:5]]
    for role in TRADING_CORE_ROLES:
        log = verify_path(role_dir(ctx.run_dir, role) / f"{INPUT_LOG_STEM}.jsonl")
        assert log.ok, [str(p) for p in log.problems[:5]]


def test_portfolio_snapshot_and_timing(run: tuple[RunContext, list[str], dict[str, int]]) -> None:
    ctx, _, _ = run
    fills = [e for e in _events(ctx, "fills")]
    snap = read_critical_json(role_dir(ctx.run_dir, "execution_role") / "portfolio.json")
    assert snap["fills"] == len(fills) and snap["last_fill_id"] == fills[-1]["id"]
    rebuilt = Portfolio.rebuild((f["payload"] for f in fills), 10_000.0)
    assert Portfolio.from_snapshot(snap).ledger() == rebuilt.ledger()
    timing = [e["payload"] for e in _events(ctx, "timing")]
    assert timing, "no tick_to_fill timing event"
    fill_ids = {f["id"] for f in fills}
    assert all(t["kind"] == "tick_to_fill" and t["cause_id"] in fill_ids for t in timing)
    assert all(0 <= t["latency_ms"] < 60_000 for t in timing)


def _nore_replay(run_dir: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "minibot", "replay", str(run_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_replay_is_identical(run: tuple[RunContext, list[str], dict[str, int]]) -> None:
    ctx, _, _ = run
    result = _nore_replay(ctx.run_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("IDENTICAL: ")
    assert all(f"outputs of {role}" in result.stdout for role in TRADING_CORE_ROLES)


def test_replay_names_a_tampered_fill_field(run: tuple[RunContext, list[str], dict[str, int]], tmp_path: Path) -> None:
    ctx, _, _ = run
    copy = tmp_path / "run"
    shutil.copytree(ctx.run_dir, copy)
    inbox = copy / "queues" / "fills" / "inbox.jsonl"
    lines = inbox.read_bytes().splitlines(keepends=True)
    event = orjson.loads(lines[0].split(b":", 2)[2])
    event["payload"]["fee"] = round(event["payload"]["fee"] + 0.01, 8)
    lines[0] = encode_line(event)  # a well-framed line: only the content differs from what the core makes
    inbox.write_bytes(b"".join(lines))
    result = _nore_replay(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fills/inbox.jsonl line 1: expected payload.fee = " in result.stdout, result.stdout


def test_replay_refuses_a_damaged_journal_or_missing_run(
    run: tuple[RunContext, list[str], dict[str, int]], tmp_path: Path
) -> None:
    ctx, _, _ = run
    copy = tmp_path / "run"
    shutil.copytree(ctx.run_dir, copy)
    inbox = copy / "queues" / "signals" / "inbox.jsonl"
    inbox.write_bytes(inbox.read_bytes().replace(b'"BUY"', b'"SEL"', 1).replace(b'"SELL"', b'"SEL"', 1))
    damaged = _nore_replay(copy)
    assert damaged.returncode == 2, damaged.stdout + damaged.stderr
    assert "LINE_HASH_MISMATCH" in damaged.stdout
    (copy / "run.json").unlink()
    missing = _nore_replay(copy)
    assert missing.returncode == 2 and "run.json is missing" in missing.stdout, missing.stdout
