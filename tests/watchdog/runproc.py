"""A real `nore run` in its own process, as a user starts it: output read live, bounded waits, helpers to
inspect the run folder while it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from minibot.config.loader import load_config, with_overrides
from minibot.journal.atomic import read_critical_json
from minibot.journal.layout import INBOX
from minibot.journal.reader import iter_lines
from minibot.watchdog.procs import pid_file

ROOT = Path(__file__).resolve().parents[2]
# Every role a `nore run` starts, in the supervisor's start order.
ROLES = ("market_role", "health_role", "strategy_role", "risk_role", "execution_role", "ai_role")


def write_config(folder: Path, **overrides: Any) -> Path:
    """The shipped config with `overrides` (deep-merged, validated), written to `folder/nore.json`."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = with_overrides(load_config(), overrides)
    path = folder / "nore.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


class NoreRun:
    """`python -m minibot run --var VAR ARGS...`; stdout+stderr collected line by line."""

    def __init__(self, var: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.var = var
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minibot", "run", "--var", str(var), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            cwd=ROOT,
            env=dict(env) if env is not None else None,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        """Everything printed so far."""
        return "\n".join(self.lines)

    def run_dir(self, timeout_s: float = 60.0) -> Path:
        """The `run_dir:` the command printed (waits for it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith("run_dir: "):
                    return Path(line.removeprefix("run_dir: "))
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no run_dir line within {timeout_s} s; output:\n{self.output}")

    def wait(self, timeout_s: float) -> int:
        """Exit code (kills the run and fails if it takes longer)."""
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"nore run did not end within {timeout_s} s; output:\n{self.output}") from None
        self._reader.join(10)
        return code

    def kill(self) -> None:
        """Kill the supervisor if it is still running (test cleanup)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `check` every 50 ms until true; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def wait_for_every_role(run_dir: Path, timeout_s: float = 90, roles: tuple[str, ...] = ROLES) -> None:
    """Wait until each of `roles` has published a heartbeat (the run is up)."""
    wait_until(lambda: set(roles) <= set(heartbeat_pids(run_dir)), timeout_s, "a heartbeat from every role")


def role_pid(run_dir: Path, role: str) -> int | None:
    """The role's current pid from its pid file."""
    path = pid_file(run_dir, role)
    return int(path.read_text()) if path.exists() else None


def heartbeat_pids(run_dir: Path) -> dict[str, set[int]]:
    """role -> every pid that has published a heartbeat so far."""
    out: dict[str, set[int]] = {}
    folder = run_dir / "queues" / "health"
    for raw in iter_lines(folder, INBOX):
        payload = json.loads(raw.data.split(b":", 2)[2])["payload"]
        if "pid" in payload:
            out.setdefault(payload["role"], set()).add(int(payload["pid"]))
    return out


def status(run_dir: Path) -> dict[str, Any]:
    """watchdog/status.json."""
    doc: dict[str, Any] = read_critical_json(run_dir / "watchdog" / "status.json")
    return doc


def queue_events(run_dir: Path, queue: str) -> list[dict[str, Any]]:
    """Every event of a queue (lines already proven by verify_path in the tests)."""
    folder = run_dir / "queues" / queue
    return [json.loads(raw.data.split(b":", 2)[2]) for raw in iter_lines(folder, INBOX)]


def run_env(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`."""
    return {**os.environ, **extra}


def nore_verify(run_dir: Path) -> tuple[int, dict[str, Any]]:
    """`nore verify --json RUN_DIR` in its own process: exit code and the verdict document."""
    done = subprocess.run(
        [sys.executable, "-m", "minibot", "verify", "--json", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    doc: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, doc


def assert_every_intent_answered_once(run_dir: Path) -> None:
    """There are order_intents and each has exactly one order_result (by its `cause_id`)."""
    intents = [e["id"] for e in queue_events(run_dir, "order_intents")]
    answers = Counter(e["payload"]["cause_id"] for e in queue_events(run_dir, "order_results"))
    assert intents and all(answers[i] == 1 for i in intents), "every order_intent answered exactly once"


def run_to_a_clean_end(run: NoreRun, timeout_s: float) -> Path:
    """Wait for `run` (killed if it outlives `timeout_s`), assert it ended by its duration without a STOP;
    its run folder."""
    try:
        code = run.wait(timeout_s)
    finally:
        run.kill()
    assert code == 0, run.output
    assert "ended: duration reached" in run.output and "STOP: none" in run.output
    return run.run_dir()
