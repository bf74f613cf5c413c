"""A whole short `nore run --sim` night with every role and the simulator started through a launcher like
the Windows venv's `Scripts\\python.exe` (tests/watchdog/venv_launcher.py): the pid the supervisor starts
is never the pid running the role. The night ends cleanly with zero restarts, verify says PASS, RSS/CPU
are those of the real interpreters, and nothing of the run survives it (issue 11, item 1)."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from minibot.journal.atomic import read_critical_json
from tests.watchdog.runproc import (
    ROLES,
    NoreRun,
    heartbeat_pids,
    nore_verify,
    queue_events,
    role_pid,
    run_to_a_clean_end,
    status,
    wait_for_every_role,
    wait_until,
)
from tests.watchdog.venv_launcher import launcher_env, write_launcher

pytestmark = pytest.mark.process


def test_night_with_every_role_behind_a_venv_launcher_has_no_restarts_and_passes_verify(tmp_path: Path) -> None:
    launcher = write_launcher(tmp_path / "venv")
    # 60 s of wall time: longer than the watchdog's startup grace plus its silence bound (40 s), so roles
    # whose heartbeats were not recognised would be killed as silent within the night.
    run = NoreRun(tmp_path / "var", "--sim", "--speed", "10", "--duration", "10m", env=launcher_env(launcher))
    run_dir = run_to_a_clean_end(run, 180)
    roles = status(run_dir)["roles"]
    beats = heartbeat_pids(run_dir)
    for role in ROLES:
        entry = roles[role]
        assert entry["restarts"] == [] and entry["starts"] == 1, (role, entry)
        # The supervisor started the launcher; the role ran in its child, which the heartbeats named.
        assert entry["pid"] != entry["started_pid"] and beats[role] == {entry["pid"]}, (role, entry, beats)
        assert not psutil.pid_exists(entry["pid"]) or psutil.Process(entry["pid"]).status() == "zombie"
    instances = {e["payload"]["role"]: e["payload"].get("instance") for e in queue_events(run_dir, "health")}
    assert all(instances[role] == roles[role]["instance"] for role in ROLES), (instances, roles)
    metrics = read_critical_json(run_dir / "metrics.json")
    for role in ROLES:  # RSS and CPU of the interpreter that ran the role, not of the launcher
        assert metrics["roles"][role]["pid"] == roles[role]["pid"], (role, metrics["roles"][role])
        assert metrics["roles"][role]["rss_mb"] > 0, (role, metrics["roles"][role])
    code, verdict = nore_verify(run_dir)
    assert code == 0 and verdict["verdict"] == "PASS", verdict["reasons"]


def test_a_role_whose_launcher_died_is_restarted_without_a_second_instance(tmp_path: Path) -> None:
    """The launcher of risk_role is killed and, with no job object, its child (the role) runs on: the restart
    kills it first, so two risk roles never ack one queue (that ended a night with ACKS_OUT_OF_ORDER)."""
    launcher = write_launcher(tmp_path / "venv", dies_with_parent=False)
    run = NoreRun(tmp_path / "var", "--sim", "--speed", "10", "--duration", "4m", env=launcher_env(launcher))
    try:
        run_dir = run.run_dir()
        wait_for_every_role(run_dir, 60)
        (old,) = heartbeat_pids(run_dir)["risk_role"]
        psutil.Process(role_pid(run_dir, "risk_role")).kill()  # the launcher only
        wait_until(lambda: len(heartbeat_pids(run_dir)["risk_role"]) == 2, 60, "risk_role restarted and beating")
        assert not psutil.pid_exists(old) or psutil.Process(old).status() == "zombie", "the old role was killed"
        code = run.wait(180)
    finally:
        run.kill()
    assert code == 0, run.output
    assert "STOP: none" in run.output
    risk = status(run_dir)["roles"]["risk_role"]
    assert len(risk["restarts"]) == 1 and risk["restarts"][0]["old_pid"] == old, risk
    assert all(not status(run_dir)["roles"][r]["restarts"] for r in ROLES if r != "risk_role")
    code, verdict = nore_verify(run_dir)
    assert code == 0 and verdict["verdict"] == "PASS", verdict["reasons"]
