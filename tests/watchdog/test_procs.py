"""A role process started through a launcher (the Windows venv's `Scripts\\python.exe`, emulated by
tests/watchdog/venv_launcher.py): its heartbeats are recognised by their instance token, its real pid is
learned from them, and `kill` / a restart leave nothing of the previous start running (issue 11, item 1)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from minibot.journal.context import RunContext
from minibot.roles.runner import queue_events
from minibot.watchdog.launch import ROLE_PYTHON_ENV
from minibot.watchdog.procs import RoleProcess
from tests.roles.core_run import REPO, make_run_dir
from tests.watchdog.venv_launcher import write_launcher

pytestmark = pytest.mark.process

ROLE = "strategy_role"


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _beat_of(ctx: RunContext, proc: RoleProcess, timeout_s: float = 60.0) -> dict[str, Any]:
    """The first heartbeat of the current start of `proc`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in queue_events(ctx, "health"):
            if event["payload"].get("instance") == proc.instance:
                return dict(event["payload"])
        time.sleep(0.05)
    raise AssertionError(f"no heartbeat of instance {proc.instance} within {timeout_s} s")


@pytest.fixture
def no_job_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Roles started through a launcher whose child outlives it (the worst case for kill)."""
    launcher = write_launcher(tmp_path / "venv", dies_with_parent=False)
    monkeypatch.setenv(ROLE_PYTHON_ENV, str(launcher))
    monkeypatch.chdir(REPO)
    yield launcher


def _role(run_dir: Path, ctx: RunContext) -> RoleProcess:
    return RoleProcess(ROLE, run_dir, run_dir / "logs", dict(os.environ), ctx.clock)


def test_beats_are_identified_by_the_instance_token_not_the_pid() -> None:
    proc = RoleProcess(ROLE, Path("run"), Path("logs"), {}, lambda: 0)
    proc.instance = "a" * 32
    assert proc.owns_beat({"role": ROLE, "instance": "a" * 32, "pid": 999_999})  # any pid: a launcher's child
    assert not proc.owns_beat({"role": ROLE, "instance": "b" * 32, "pid": 999_999})  # an earlier start
    assert not proc.owns_beat({"role": ROLE, "instance": "b" * 32})
    assert proc.owns_beat({"role": ROLE})  # started by hand, no pid: counted
    assert not proc.owns_beat({"role": ROLE, "pid": 999_999})  # no token: only the started pid counts


def test_kill_reaches_the_interpreter_behind_the_launcher(tmp_path: Path, no_job_object: Path) -> None:
    ctx = make_run_dir(tmp_path / "run")
    proc = _role(tmp_path / "run", ctx)
    proc.start()
    try:
        beat = _beat_of(ctx, proc)
        proc.note_beat(beat)
        assert proc.role_pid == beat["pid"] != proc.pid, "the role runs in the launcher's child"
        assert psutil.Process(beat["pid"]).ppid() == proc.pid
        proc.kill()
        assert not proc.running() and _gone(beat["pid"])
    finally:
        proc.finished = True
        proc.kill()
        proc.close()


@pytest.mark.parametrize("beat_seen", [True, False], ids=["known-from-heartbeat", "known-as-lock-holder"])
def test_a_restart_after_the_launcher_died_leaves_no_second_instance(
    tmp_path: Path, no_job_object: Path, beat_seen: bool
) -> None:
    ctx = make_run_dir(tmp_path / "run")
    proc = _role(tmp_path / "run", ctx)
    proc.start()
    pids: list[int] = []
    try:
        first = _beat_of(ctx, proc)
        if beat_seen:  # else the watchdog never read a beat of that start: found through instance.json
            proc.note_beat(first)
        pids.append(first["pid"])
        psutil.Process(proc.pid).kill()  # the launcher alone dies; its child, the role, runs on
        while proc.poll() is None:
            time.sleep(0.02)
        assert not _gone(first["pid"])
        proc.start()  # the supervisor's restart
        second = _beat_of(ctx, proc)
        pids.append(second["pid"])
        assert _gone(first["pid"]), "the previous start's interpreter was killed before the new one started"
        assert second["instance"] != first["instance"] and proc.owns_beat(second) and not proc.owns_beat(first)
    finally:
        proc.finished = True
        proc.kill()
        proc.close()
        for pid in pids:
            if not _gone(pid):
                psutil.Process(pid).kill()
