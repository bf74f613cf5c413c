"""One process per role per run: the per-start instance token and the instance lock.

Token: the supervisor starts each role with `NORE_ROLE_INSTANCE=<token>` in its environment, a new token
for every start. The role puts it in every heartbeat (`health` payload field `instance`), so the watchdog
recognises the beats of the start it supervises whatever pid sent them (a Windows venv launcher stands
between the process it started and the interpreter running the role: minibot/watchdog/launch.py), and
discards the beats of an earlier start.

Lock: `<run>/roles/<role>/instance.lock` is held by the role process for its whole life; the OS releases
it when the process ends, however it ends. A second process of the same role for the same run cannot take
it and refuses to start (`ExitCode.DUPLICATE`, logged, nothing written to any queue): two risk roles must never
ack one queue. `instance.json` beside it names the holder for that message (a Windows lock is mandatory:
the locked file itself cannot be read by anyone else).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import portalocker

from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.reasons import NonAtomicWrite, NoreError, ReasonCode
from minibot.runlayout import INSTANCE_HOLDER, INSTANCE_LOCK, role_dir

INSTANCE_ENV = "NORE_ROLE_INSTANCE"


def new_instance_token() -> str:
    """A fresh token for one start of a role (32 hex digits)."""
    return uuid.uuid4().hex


def instance_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The token this process was started with (None when started without a supervisor)."""
    env = os.environ if environ is None else environ
    return env.get(INSTANCE_ENV) or None


class InstanceTaken(NoreError):
    """Another process of this role already runs for this run (not a STOP: this process just refuses)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, ReasonCode.ROLE_FAILED)


class InstanceLock:
    """The instance lock of one role of one run, held until `release` or the end of the process."""

    def __init__(self, run_dir: Path, role: str) -> None:
        self.role = role
        self.folder = role_dir(run_dir, role)
        self.path = self.folder / INSTANCE_LOCK
        self._lock: portalocker.Lock | None = None

    def acquire(self) -> None:
        """Take the lock with one attempt (never waits); `InstanceTaken` names the holder when it is taken."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = portalocker.Lock(
            str(self.path), mode="a", timeout=0, fail_when_locked=True, flags=portalocker.LOCK_EX | portalocker.LOCK_NB
        )
        try:
            lock.acquire()
        except portalocker.LockException:
            raise InstanceTaken(
                f"{self.role}: another instance already runs for this run ({self._holder()}; lock {self.path})"
            ) from None
        self._lock = lock
        holder = {"role": self.role, "pid": os.getpid(), "instance": instance_token()}
        write_critical_json(self.folder / INSTANCE_HOLDER, holder, fsync=False)

    def _holder(self) -> str:
        holder = read_holder(self.folder.parent.parent, self.role)
        return "holder unknown" if holder is None else f"pid {holder[0]}, instance {holder[1]}"

    def release(self) -> None:
        """Let the lock go (the OS does it anyway when the process ends)."""
        if self._lock is not None:
            with contextlib.suppress(portalocker.LockException, OSError):
                self._lock.release()
            self._lock = None


def read_holder(run_dir: Path, role: str) -> tuple[int, str | None] | None:
    """(pid, instance token) of the last process that took the role's instance lock; None if unknown."""
    try:
        doc = read_critical_json(role_dir(run_dir, role) / INSTANCE_HOLDER)
        pid, token = doc["pid"], doc["instance"]
    except (OSError, NonAtomicWrite, KeyError, TypeError):
        return None
    if not isinstance(pid, int) or not (token is None or isinstance(token, str)):
        return None
    return pid, token


def hold_instance(run_dir: Path, role: str, log: logging.Logger) -> InstanceLock | None:
    """Take the role's instance lock for this process; None (logged as an error) when another holds it."""
    lock = InstanceLock(run_dir, role)
    try:
        lock.acquire()
    except InstanceTaken as exc:
        log.error("refusing to start: %s", exc.detail)
        return None
    return lock
