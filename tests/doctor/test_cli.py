"""`nore doctor` as the trader runs it: every row on this machine against the loopback simulator, and a FAIL
(exit 1) when Binance's URL is a closed loopback port."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
CHECKS = [
    "python",
    "venv",
    "disk",
    "var folder",
    "var sync",
    "var replace speed",
    "var fsync",
    "lock",
    "binance rest",
    "clock offset",
    "binance ws",
    "keep awake",
    "sleep timeout",
    "console mode",
]


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m minibot doctor ARGS` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "minibot", "doctor", *args], capture_output=True, text=True, timeout=180, cwd=ROOT
    )


@pytest.mark.timeout(240)
def test_every_row_against_the_embedded_simulator(tmp_path: Path) -> None:
    done = doctor("--sim", "--var", str(tmp_path / "var"), "--json")
    report = json.loads(done.stdout)
    rows = {row["check"]: row for row in report["rows"]}
    assert list(rows) == CHECKS, done.stdout
    # Speed rows may WARN on a loaded CI machine; nothing may FAIL, and the rest must be OK here.
    assert done.returncode == 0 and report["ok"], done.stdout
    for name in ("python", "disk", "var folder", "var sync", "lock", "binance rest", "binance ws"):
        assert rows[name]["status"] == "OK", rows[name]
    for name in ("keep awake", "sleep timeout", "console mode"):  # Windows-only: never a FAIL elsewhere
        assert rows[name] == {"check": name, "status": "OK", "detail": "not applicable (not Windows)", "action": ""}
    assert rows["clock offset"]["status"] in ("OK", "WARN"), rows["clock offset"]
    assert rows["binance rest"]["detail"].startswith("http://127.0.0.1:")
    assert all(row["action"] for row in report["rows"] if row["status"] != "OK")
    assert not list((tmp_path / "var").iterdir()), "the probes leave nothing behind in the var folder"


@pytest.mark.timeout(120)
def test_an_unreachable_binance_fails_with_exit_1(tmp_path: Path) -> None:
    # Port 9 on loopback (discard) has no listener here: connection refused at once.
    done = doctor("--var", str(tmp_path / "var"), "--base-url", "http://127.0.0.1:9", "--ws-url", "ws://127.0.0.1:9")
    assert done.returncode == 1, done.stdout
    lines = done.stdout.splitlines()
    assert any(line.startswith("FAIL  binance rest: http://127.0.0.1:9 does not answer") for line in lines)
    assert any(line.startswith("FAIL  binance ws: ws://127.0.0.1:9") for line in lines)
    assert any(line.startswith("OK    lock:") for line in lines), "the other checks still ran"
    assert lines[-1].endswith("3 FAIL: fix every FAIL before a night")


def test_a_bad_config_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "nore.json"
    bad.write_text('{"config_version": 1, "mode": "LIVE"}', encoding="utf-8")
    done = doctor("--config", str(bad), "--var", str(tmp_path / "var"))
    assert done.returncode == 2 and "error:" in done.stderr
