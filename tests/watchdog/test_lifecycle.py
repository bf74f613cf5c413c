"""`nore run` end to end, short runs: usage errors, preflight STOP, the operator's stop file, secrets (R-P5), a
supervisor-side error STOPping with its own reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from minibot.journal.stop import read_stop
from minibot.journal.verify import verify_path
from minibot.watchdog.launch import MALLOC_ENV
from tests.watchdog.runproc import (
    ROLES,
    ROOT,
    NoreRun,
    role_pid,
    run_env,
    status,
    wait_for_every_role,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.process

FAKE_FILE_KEY = "NORE_TEST_FAKE_KEY_file_7f3a9c2e41d0"
FAKE_ENV_KEY = "NORE_TEST_FAKE_KEY_env_b81e66d0a9c4"


def test_bad_config_exits_2_naming_the_key_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    cfg = json.loads(write_config(tmp_path).read_text())
    cfg["watchdog"]["restart_max"] = -1
    bad.write_text(json.dumps(cfg))
    run = NoreRun(tmp_path / "var", "--config", str(bad), "--sim")
    assert run.wait(60) == 2
    assert "watchdog.restart_max" in run.output and "Traceback" not in run.output
    bad_duration = NoreRun(tmp_path / "var", "--duration", "7 days")
    assert bad_duration.wait(60) == 2
    assert "--duration" in bad_duration.output
    spec_command = subprocess.run(  # the spec's command is the same command
        [
            sys.executable,
            "-m",
            "minibot.nore_run_v1",
            "--config",
            "minibot/config/nore.v1.json",
            "--var",
            str(tmp_path / "var"),
            "--speed",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert spec_command.returncode == 2 and "--speed: must be > 0" in spec_command.stdout
    assert not (tmp_path / "var").exists()


def test_preflight_failure_is_a_stop_before_any_role(tmp_path: Path) -> None:
    # Port 9 on loopback (discard) has no listener here: connection refused at once.
    config = write_config(tmp_path, binance={"rest_base_url": "http://127.0.0.1:9", "rest_timeout_s": 2})
    run = NoreRun(tmp_path / "var", "--config", str(config), "--duration", "1m")
    assert run.wait(60) == 3, run.output
    run_dir = run.run_dir()
    stop = read_stop(run_dir)["payload"]
    assert stop["reason_code"] == "BINANCE_UNREACHABLE" and stop["component"] == "preflight"
    assert "STOP: BINANCE_UNREACHABLE" in run.output
    assert not (run_dir / "roles").exists()
    assert not (run_dir / "exchange_info.json").exists()
    assert verify_path(run_dir / "queues").ok


def test_operator_stop_file_ends_cleanly_and_no_secret_reaches_any_file(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secrets_file = outside / "binance.env"
    secrets_file.write_text(f"BINANCE_API_SECRET={FAKE_FILE_KEY}\n", encoding="utf-8")
    env = run_env(NORE_SECRETS_FILE=str(secrets_file), BINANCE_API_KEY=FAKE_ENV_KEY)
    var = tmp_path / "var"
    run = NoreRun(var, "--sim", "--speed", "10", "--duration", "7h", env=env)
    try:
        run_dir = run.run_dir()
        wait_for_every_role(run_dir, 60)
        for role in ROLES:  # no child holds a secret in its environment, ai_role not even the secrets path
            environ = psutil.Process(role_pid(run_dir, role)).environ()
            values = "\n".join(environ.values())
            assert FAKE_FILE_KEY not in values and FAKE_ENV_KEY not in values, role
            assert "BINANCE_API_KEY" not in environ and "NORE_SECRETS_FILE" not in environ, role
            assert {k: environ.get(k) for k in MALLOC_ENV} == MALLOC_ENV, role  # ai_role's scrub keeps it
        (run_dir / "control" / "stop").touch()
        assert run.wait(60) == 0, run.output
    finally:
        run.kill()
    assert "ended: operator stop file" in run.output and "STOP: none" in run.output
    assert not (run_dir / "STOP.flag").exists()
    assert all(not s["restarts"] for s in status(run_dir)["roles"].values())
    files = [p for p in var.rglob("*") if p.is_file()]
    assert len(files) > 50
    for path in files:
        data = path.read_bytes()
        assert FAKE_FILE_KEY.encode() not in data and FAKE_ENV_KEY.encode() not in data, path
    assert FAKE_FILE_KEY not in run.output and FAKE_ENV_KEY not in run.output
    assert verify_path(run_dir / "queues").ok


def test_a_supervisor_file_that_cannot_be_replaced_stops_with_its_own_reason(tmp_path: Path) -> None:
    # exchangeInfo answers 3 s late, so the test can put a non-empty folder where preflight writes
    # exchange_info.json: os.replace onto it fails (EISDIR here, access denied on Windows).
    scenario = tmp_path / "slow_exchange_info.json"
    fault = {"kind": "latency", "at_ms": 0, "duration_ms": 600_000, "delay_ms": 3000, "paths": ["/api/v3/exchangeInfo"]}
    scenario.write_text(json.dumps({"version": 1, "name": "slow", "faults": [fault]}))
    run = NoreRun(tmp_path / "var", "--sim", "--scenario", str(scenario), "--duration", "1h")
    try:
        run_dir = run.run_dir()
        wait_until(lambda: (run_dir / "run.json").exists(), 60, "run.json")
        (run_dir / "exchange_info.json" / "held").mkdir(parents=True)
        code = run.wait(120)
    finally:
        run.kill()
    assert code == 3, run.output
    stop = read_stop(run_dir)["payload"]
    assert stop["reason_code"] == "FILE_REPLACE_FAILED" and stop["component"] == "supervisor", stop
    assert "exchange_info.json: os.replace failed" in stop["detail"]
    assert "STOP: FILE_REPLACE_FAILED from supervisor" in run.output and "internal error" not in run.output
    assert not (run_dir / "roles").exists(), "no role started"
