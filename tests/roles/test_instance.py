"""One process per role per run: the instance token in heartbeats and the instance lock (issue 11, item 1)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from minibot.exitcodes import ExitCode
from minibot.roles.instance import INSTANCE_ENV, InstanceLock, InstanceTaken, instance_token, new_instance_token
from minibot.roles.process import Heartbeat, load_env
from minibot.roles.runner import queue_events
from tests.roles.core_run import make_run_dir, request_shutdown, start_role


def _wait(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_tokens_are_fresh_per_start_and_read_from_the_environment() -> None:
    a, b = new_instance_token(), new_instance_token()
    assert a != b and len(a) == 32 and int(a, 16) >= 0
    assert instance_token({INSTANCE_ENV: a}) == a
    assert instance_token({}) is None and instance_token({INSTANCE_ENV: ""}) is None


def test_heartbeats_carry_the_instance_token_and_the_real_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = make_run_dir(tmp_path)
    token = new_instance_token()
    monkeypatch.setenv(INSTANCE_ENV, token)
    beat = Heartbeat(load_env("strategy_role", tmp_path))
    beat.beat("STARTING", force=True)  # published through the health contract: the field is declared
    beat.close()
    monkeypatch.delenv(INSTANCE_ENV)
    beat = Heartbeat(load_env("strategy_role", tmp_path))
    beat.beat("OK", force=True)
    beat.close()
    payloads = [e["payload"] for e in queue_events(ctx, "health")]
    assert [p.get("instance") for p in payloads] == [token, None]
    assert all(p["pid"] == os.getpid() for p in payloads)


def test_the_instance_lock_is_exclusive_and_names_its_holder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INSTANCE_ENV, "ab" * 16)
    first = InstanceLock(tmp_path, "risk_role")
    first.acquire()
    with pytest.raises(InstanceTaken, match=r"risk_role: another instance already runs .*instance abab"):
        InstanceLock(tmp_path, "risk_role").acquire()
    InstanceLock(tmp_path, "execution_role").acquire()  # other roles have their own lock
    first.release()
    again = InstanceLock(tmp_path, "risk_role")
    again.acquire()
    again.release()


@pytest.mark.process
def test_a_second_process_of_a_role_refuses_to_start(tmp_path: Path) -> None:
    make_run_dir(tmp_path)
    first = start_role("risk_role", tmp_path)
    try:
        _wait(lambda: (tmp_path / "roles" / "risk_role" / "instance.json").exists(), 60, "the first instance")
        second = start_role("risk_role", tmp_path)
        assert second.wait(60) == ExitCode.DUPLICATE
        assert first.poll() is None, "the first instance is not disturbed"
        log = (tmp_path / "logs" / "risk_role.log").read_text(encoding="utf-8")
        assert "refusing to start" in log and f"pid {first.pid}" in log
        assert not (tmp_path / "STOP.flag").exists(), "a refused start is not a STOP"
        request_shutdown(tmp_path)
        assert first.wait(60) == ExitCode.OK
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    lock = InstanceLock(tmp_path, "risk_role")
    lock.acquire()  # the holder has ended: the lock is free again
    lock.release()
