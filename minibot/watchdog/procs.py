"""Role processes: which roles a run has, how each is started (spawn, never fork), killed and restarted.

Each role is `python -m minibot.roles.<role> --run-dir RUN_DIR` in its own process group (Windows:
CREATE_NEW_PROCESS_GROUP; POSIX: a new session), so the console's Ctrl+C reaches only the supervisor, which
ends the run through the shutdown files. stdout/stderr go to `<logs>/<role>.out` (the role's structured log
is `<logs>/<role>.log`). The current pid is in `<run>/roles/<role>/pid` for operators and tests.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from minibot import winsys
from minibot.journal.atomic import atomic_write_bytes

CORE_ROLES = ("market_role", "health_role", "strategy_role", "risk_role", "execution_role")
AI_ROLE = "ai_role"
# Graceful end of a run, upstream first, so each stage drains what the previous one wrote before the
# next is asked to finish: every order_intent risk_role wrote is still answered by execution_role.
SHUTDOWN_STAGES: tuple[tuple[str, ...], ...] = (
    ("market_role", "health_role"),
    ("ai_role",),
    ("strategy_role",),
    ("risk_role",),
    ("execution_role",),
)


def run_roles(cfg: Mapping[str, Any]) -> list[str]:
    """The roles of a run: the core chain, the health checker, and ai_role when `ai.enabled`."""
    return [*CORE_ROLES, *([AI_ROLE] if cfg["ai"]["enabled"] else [])]


def role_module(role: str) -> str:
    """The module a role runs as."""
    return f"minibot.roles.{role}"


def missing_role_modules(roles: list[str]) -> list[str]:
    """Role modules this installation does not have (checked before a run directory is created)."""
    return [role_module(r) for r in roles if importlib.util.find_spec(role_module(r)) is None]


def popen_group_kwargs() -> dict[str, Any]:
    """Keep a child out of the console's events and Ctrl+C: the supervisor decides how it ends."""
    return winsys.popen_group_kwargs()


def pid_file(run_dir: Path, role: str) -> Path:
    """`<run>/roles/<role>/pid`: the pid of the role's current process."""
    return Path(run_dir) / "roles" / role / "pid"


class RoleProcess:
    """One role's process across restarts. Times are wall-clock monotonic seconds unless named `_ms`."""

    def __init__(self, role: str, run_dir: Path, log_dir: Path, env: dict[str, str], clock: Callable[[], int]) -> None:
        self.role = role
        self.clock = clock
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.started_ms: int | None = None  # run clock
        self.starts = 0
        self.restart_times_ms: deque[int] = deque()  # run-clock times of restarts, for the restart limit
        self.restarts: list[dict[str, Any]] = []  # every restart: when, why, the exit code seen
        self.restart_due: float | None = None  # when a pending restart may happen (backoff)
        self.backoff_s = 0.0
        self.exit_code: int | None = None
        self.finished = False  # ended for good (run ending, STOP), never restarted
        self._out: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Pid of the current process (None before start)."""
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        """Spawn the role process."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self._out is None:
            self._out = (self.log_dir / f"{self.role}.out").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", role_module(self.role), "--run-dir", str(self.run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=self.env,
            **popen_group_kwargs(),
        )
        self.started_at = time.monotonic()
        self.started_ms = self.clock()
        self.starts += 1
        self.exit_code = None
        self.restart_due = None
        path = pid_file(self.run_dir, self.role)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, f"{self.proc.pid}\n".encode(), fsync=False)

    def poll(self) -> int | None:
        """The exit code once the current process has ended, else None."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is not None:
            self.exit_code = code
        return code

    def running(self) -> bool:
        """Whether the current process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self, wait_s: float = 10.0) -> None:
        """Kill the current process (SIGKILL / TerminateProcess) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.exit_code = self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                self.exit_code = None

    def close(self) -> None:
        """Release the output file."""
        if self._out is not None:
            self._out.close()
            self._out = None

    def status(self) -> dict[str, Any]:
        """For watchdog/status.json and the metrics collector (`alive`, `started_ms`, `restart_count`)."""
        return {
            "pid": self.pid,
            "alive": self.running(),
            "started_ms": self.started_ms,
            "restart_count": len(self.restarts),
            "starts": self.starts,
            "restarts": list(self.restarts),
            "exit_code": self.exit_code,
            "finished": self.finished,
        }
