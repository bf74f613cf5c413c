"""The orphan guard: a role sees its supervisor's death directly, also while the dead supervisor is an
unreaped zombie (issue 13), and every process of a night ends within a bound after kill -9 of the
supervisor."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from minibot.roles.orphan import ORPHAN_CHECK_S, OrphanGuard, supervisor_dead
from tests.watchdog.runproc import NoreRun, heartbeat_pids, role_pid, wait_until

pytestmark = pytest.mark.process

ROLES = ["market_role", "health_role", "strategy_role", "risk_role", "execution_role", "ai_role"]
# The guard looks once a second; a role's loop reaches the guard within a poll interval. On a loaded
# 2-core machine a round of work may take a while longer: the stated bound is 3 s.
ORPHAN_EXIT_BOUND_S = 3.0


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_killed_unreaped_supervisor_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = psutil.Process(child.pid)
        created = me.create_time()
        assert not supervisor_dead(child.pid, created)
        guard = OrphanGuard({"supervisor": {"pid": child.pid, "create_time": created}})
        assert not guard.orphaned()
        child.kill()  # not reaped: a zombie keeps its pid and start time
        wait_until(lambda: me.status() == psutil.STATUS_ZOMBIE, 10, "the child to be a zombie")
        assert psutil.pid_exists(child.pid) and abs(me.create_time() - created) < 1.0
        assert supervisor_dead(child.pid, created)
        time.sleep(ORPHAN_CHECK_S)
        assert guard.orphaned()
    finally:
        child.kill()
        child.wait(10)
    assert supervisor_dead(child.pid, created)  # reaped: gone (or a recycled pid with another start time)
    assert not OrphanGuard({"run_id": "x"}).orphaned()


def test_kill_9_of_the_supervisor_ends_every_process_of_the_night_within_the_bound(tmp_path: Path) -> None:
    run = NoreRun(tmp_path / "var", "--sim", "--speed", "20", "--duration", "7h")
    try:
        run_dir = run.run_dir()
        wait_until(lambda: set(ROLES) <= set(heartbeat_pids(run_dir)), 90, "a heartbeat from every role")
        sup = psutil.Process(run.proc.pid)
        children = sup.children(recursive=True)
        pids = {r: role_pid(run_dir, r) for r in ROLES}
        assert {p.pid for p in children} >= set(pids.values()), "every role is a child of the supervisor"
        assert len(children) == len(ROLES) + 1, "the roles and the simulator"
        sup.kill()  # kill -9; the test does not reap it: it stays a zombie, as under a parent that never waits
        killed = time.monotonic()
        wait_until(lambda: sup.status() == psutil.STATUS_ZOMBIE, 10, "the supervisor to be a zombie")
        wait_until(lambda: all(_gone(p.pid) for p in children), 30, "every child of the killed supervisor to exit")
        took = time.monotonic() - killed
        assert sup.status() == psutil.STATUS_ZOMBIE, "the supervisor was never reaped while the roles ended"
    finally:
        run.kill()
        run.proc.wait(10)
    assert took <= ORPHAN_EXIT_BOUND_S, f"the last process ended {took:.2f} s after the supervisor's kill -9"
