"""Role processes: which roles a run has, how each is started (spawn, never fork), killed and restarted.

Each role is `python -m minibot.roles.<role> --run-dir RUN_DIR` in its own process group (Windows:
CREATE_NEW_PROCESS_GROUP; POSIX: a new session), so the console's Ctrl+C reaches only the supervisor, which
ends the run through the shutdown files. stdout/stderr go to `<logs>/<role>.out` (the role's structured log
is `<logs>/<role>.log`). The pid of the process started is in `<run>/roles/<role>/pid` for operators and
tests.

The process started may be a launcher running the role's interpreter as its child (a Windows venv,
minibot/watchdog/launch.py). So a start is identified by the instance token it is given and reports in its
heartbeats, the role's real pid is learned from those heartbeats, and killing a role kills the launcher,
everything under it and the reported interpreter, so nothing of a previous start survives a restart.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import psutil

from minibot import winsys
from minibot.journal.atomic import atomic_write_bytes
from minibot.rolenames import ALWAYS_STARTED_ROLES, Role
from minibot.roles.instance import INSTANCE_ENV, new_instance_token, read_holder
from minibot.runlayout import role_dir
from minibot.watchdog.launch import child_python, descendants, kill_processes


def run_roles(cfg: Mapping[str, Any]) -> list[str]:
    """The roles of a run: the core chain, the health checker, and ai_role when `ai.enabled`."""
    return [*ALWAYS_STARTED_ROLES, *([Role.AI.value] if cfg["ai"]["enabled"] else [])]


def role_module(role: str) -> str:
    """The module a role runs as."""
    return f"minibot.roles.{role}"


def missing_role_modules(roles: list[str]) -> list[str]:
    """Role modules this installation does not have (checked before a run directory is created)."""
    return [role_module(r) for r in roles if importlib.util.find_spec(role_module(r)) is None]


def popen_group_kwargs() -> dict[str, Any]:
    """Keep a child out of the console's events and Ctrl+C: the supervisor decides how it ends."""
    return winsys.popen_group_kwargs()


log = logging.getLogger("nore.supervisor.procs")


def pid_file(run_dir: Path, role: str) -> Path:
    """`<run>/roles/<role>/pid`: the pid of the process started for the role's current start."""
    return role_dir(run_dir, role) / "pid"


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
        self.instance: str | None = None  # token of the current start (its heartbeats carry it)
        self._tokens: set[str] = set()  # every token this role was started with in this run
        self.role_proc: psutil.Process | None = None  # the interpreter running it, from its heartbeats
        self._out: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Pid of the process started for the current start (None before start); maybe a launcher."""
        return self.proc.pid if self.proc is not None else None

    @property
    def role_pid(self) -> int | None:
        """Pid of the interpreter really running the role: as its heartbeats report, else the started one."""
        return self.role_proc.pid if self.role_proc is not None else self.pid

    def owns_beat(self, payload: Mapping[str, Any]) -> bool:
        """Whether a heartbeat comes from the current start: by its instance token; a beat without one (a
        role started by hand) by its pid. A beat of an earlier start never counts."""
        token = payload.get("instance")
        if token is not None:
            return token == self.instance
        pid = payload.get("pid")
        return pid is None or pid == self.pid

    def note_beat(self, payload: Mapping[str, Any]) -> None:
        """Learn the real pid from a heartbeat of the current start (for metrics and for `kill`)."""
        pid = payload.get("pid")
        if not isinstance(pid, int) or (self.role_proc is not None and self.role_proc.pid == pid):
            return
        if pid == self.pid:  # no launcher in between: the process started is the role
            return
        try:
            # psutil remembers the process's start time: a later kill cannot hit a reused pid.
            self.role_proc = psutil.Process(pid)
        except psutil.Error:
            self.role_proc = None

    def start(self) -> None:
        """Spawn the role process (after making sure nothing of the previous start still runs)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self._out is None:
            self._out = (self.log_dir / f"{self.role}.out").open("ab")
        self._kill_leftovers()
        self.instance = new_instance_token()
        self._tokens.add(self.instance)
        self.role_proc = None
        self.proc = subprocess.Popen(
            [child_python(), "-m", role_module(self.role), "--run-dir", str(self.run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**self.env, INSTANCE_ENV: self.instance},
            **popen_group_kwargs(),
        )
        self.started_at = time.monotonic()
        self.started_ms = self.clock()
        self.starts += 1
        self.exit_code = None
        self.restart_due = None
        path = pid_file(self.run_dir, self.role)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Informational (status.json and the logs name the pid too): a blocked write is logged, not a STOP.
        atomic_write_bytes(path, f"{self.proc.pid}\n".encode(), fsync=False, best_effort=True)

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
        """Kill the current start (SIGKILL / TerminateProcess): the process started, everything under it and
        the interpreter its heartbeats named (a launcher's child may have outlived it); reap it."""
        others = self._role_tree()
        if self.proc is not None and self.proc.poll() is None:
            others += descendants(self.proc.pid)  # read before the kill, while they are still its children
            self.proc.kill()
        survivors = kill_processes(others, wait_s)
        if survivors:
            log.error("%s: processes %s survived a kill", self.role, [p.pid for p in survivors])
        if self.proc is not None:
            try:
                self.exit_code = self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                self.exit_code = None

    def _role_tree(self) -> list[psutil.Process]:
        proc = self.role_proc
        if proc is None or not proc.is_running():
            return []
        return [*descendants(proc.pid), proc]

    def _lock_holder(self) -> list[psutil.Process]:
        """The process holding the role's instance lock, when it is one of our earlier starts: named in
        `instance.json` and, checked against pid reuse, started with that start's token in its environment."""
        holder = read_holder(self.run_dir, self.role)
        if holder is None or holder[1] not in self._tokens:
            return []
        pid, token = holder
        try:
            proc = psutil.Process(pid)
            if proc.environ().get(INSTANCE_ENV) != token:
                return []
        except psutil.Error:
            return []
        return [*descendants(pid), proc]

    def _kill_leftovers(self) -> None:
        """Before a restart: an interpreter of an earlier start that outlived its launcher (known from its
        heartbeats, or as the holder of the instance lock) is killed: its lock would make the new start
        refuse, and two instances must never run at once."""
        leftovers = self._role_tree() + self._lock_holder()
        if leftovers:
            log.warning("%s: killing pids %s left over from the previous start", self.role, [p.pid for p in leftovers])
            kill_processes(leftovers, 10.0)

    def close(self) -> None:
        """Release the output file."""
        if self._out is not None:
            self._out.close()
            self._out = None

    def status(self) -> dict[str, Any]:
        """For watchdog/status.json and the metrics collector (`alive`, `started_ms`, `restart_count`)."""
        return {
            "pid": self.role_pid,
            "started_pid": self.pid,
            "instance": self.instance,
            "alive": self.running(),
            "started_ms": self.started_ms,
            "restart_count": len(self.restarts),
            "starts": self.starts,
            "restarts": list(self.restarts),
            "exit_code": self.exit_code,
            "finished": self.finished,
        }
