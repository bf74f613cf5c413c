"""kill -9 of every role in turn during a run: the watchdog restores each, nothing is lost or duplicated;
beyond the restart limit the run STOPs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest

from minibot.journal.atomic import read_critical_json
from minibot.journal.stop import read_stop
from minibot.journal.verify import verify_path
from tests.watchdog.runproc import (
    ROLES,
    NoreRun,
    assert_every_intent_answered_once,
    heartbeat_pids,
    nore_verify,
    queue_events,
    role_pid,
    status,
    wait_for_every_role,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.process

SIGKILL_EXIT = -9  # how Popen reports a process killed by SIGKILL (the tests run on POSIX)


def _kill_and_wait_for_restore(run_dir: Path, role: str) -> int:
    old = role_pid(run_dir, role)
    assert old is not None
    psutil.Process(old).kill()  # SIGKILL / TerminateProcess: no cleanup of any kind

    def restored() -> bool:
        new = role_pid(run_dir, role)
        return new not in (None, old) and new in heartbeat_pids(run_dir).get(role, set())

    wait_until(restored, 60, f"{role} restarted and beating again")
    return old


def _restarts_by_cause(entries: list[dict[str, Any]], killed: int) -> tuple[int, list[dict[str, Any]]]:
    """(restarts of the killed process, every other restart). On a loaded machine a role may also be
    restarted because it was silent for longer than the silence limit: the policy at work, not the kill."""
    by_kill = [e for e in entries if e["old_pid"] == killed and e["exit_code"] == SIGKILL_EXIT]
    return len(by_kill), [e for e in entries if e not in by_kill]


def test_kill_9_of_each_role_is_restored_without_loss_or_duplicates(tmp_path: Path) -> None:
    # 1 min of wall clock: the six kills and restores take ~2 s on a quiet 2-core machine (a restarted
    # ai_role imports for a second), so even a loaded one fits them in the run; the run ends by its duration
    # so verify can PASS.
    run = NoreRun(tmp_path / "var", "--sim", "--speed", "20", "--duration", "20m")
    try:
        run_dir = run.run_dir()
        wait_for_every_role(run_dir)
        killed = {role: _kill_and_wait_for_restore(run_dir, role) for role in ROLES}
        assert run.proc.poll() is None, "every kill and restore happened during the run"
        code = run.wait(300)
    finally:
        run.kill()
    assert code == 0, run.output
    assert "STOP: none" in run.output
    roles = status(run_dir)["roles"]
    for role in ROLES:
        by_kill, others = _restarts_by_cause(roles[role]["restarts"], killed[role])
        assert by_kill == 1, (role, roles[role])
        assert all(e["reason"].startswith("silent for more than") for e in others), (role, others)
        assert roles[role]["starts"] == 1 + len(roles[role]["restarts"])
    assert "restarts: " + ", ".join(f"{r} {len(roles[r]['restarts'])}" for r in ROLES) in run.output
    report = verify_path(run_dir / "queues")
    assert report.ok, [str(p) for p in report.problems]
    for queue in ("market_ticks", "signals", "order_intents", "order_results", "fills", "health"):
        ids = Counter(e["id"] for e in queue_events(run_dir, queue))
        assert not [i for i, n in ids.items() if n > 1], f"duplicate ids in {queue}"
    assert_every_intent_answered_once(run_dir)
    metrics = read_critical_json(run_dir / "metrics.json")
    assert metrics["final"] and all(metrics["roles"][r]["restarts"] == len(roles[r]["restarts"]) for r in ROLES)
    code, verdict = nore_verify(run_dir)
    assert code == 0 and verdict["verdict"] == "PASS", verdict["reasons"]
    assert all(verdict["restarts"][r]["by_supervisor"] == len(roles[r]["restarts"]) for r in ROLES), verdict["restarts"]


def test_more_restarts_than_allowed_is_a_stop(tmp_path: Path) -> None:
    config = write_config(tmp_path, watchdog={"restart_max": 0})
    run = NoreRun(tmp_path / "var", "--config", str(config), "--sim", "--speed", "10", "--duration", "7h")
    try:
        run_dir = run.run_dir()
        wait_until(lambda: "strategy_role" in heartbeat_pids(run_dir), 60, "strategy_role's heartbeat")
        psutil.Process(role_pid(run_dir, "strategy_role")).kill()
        code = run.wait(60)
    finally:
        run.kill()
    assert code == 3, run.output
    stop = read_stop(run_dir)["payload"]
    assert stop["reason_code"] == "ROLE_RESTART_LIMIT" and "strategy_role" in stop["detail"], stop
    assert json.loads((run_dir / "watchdog" / "status.json").read_text())["data"]["state"] == "ended"
    assert verify_path(run_dir / "queues").ok
