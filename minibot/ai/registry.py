"""The active-model pointer `<ai_dir>/active.json` and its history of passing snapshots (R-I7).

`active.json` is a critical JSON file (own sha256) replaced atomically:
`{"version": str | null, "previous": [older passing versions, newest last], "updated_ts", "reason"}`.
Activation pushes the outgoing version onto `previous`; rollback pops from it, skipping any snapshot that
no longer verifies, down to "no model" (the AI then recommends nothing) when none is left.
A torn or tampered `active.json` raises `NonAtomicWrite` (a T3 STOP): the pointer is never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.reasons import NonAtomicWrite
from minibot.runlayout import AI_ACTIVE_FILE


@dataclass(frozen=True, slots=True)
class ActivePointer:
    """Content of active.json."""

    version: str | None
    previous: tuple[str, ...] = field(default=())
    updated_ts: int = 0
    reason: str = "no model yet"


def choose_rollback_target(previous: tuple[str, ...], loadable: Callable[[str], bool]) -> tuple[str | None, int]:
    """(newest loadable version in `previous`, how many entries were used up); (None, len) if none is."""
    for used, version in enumerate(reversed(previous), start=1):
        if loadable(version):
            return version, used
    return None, len(previous)


class Registry:
    """Reads and atomically replaces active.json."""

    def __init__(self, ai_dir: Path, max_history: int) -> None:
        self.path = Path(ai_dir) / AI_ACTIVE_FILE
        self.max_history = max_history

    def read(self) -> ActivePointer:
        """The current pointer; an empty one when no model was ever activated."""
        if not self.path.exists():
            return ActivePointer(version=None)
        doc = read_critical_json(self.path)
        version = doc.get("version")
        previous = doc.get("previous")
        if (version is not None and not isinstance(version, str)) or not isinstance(previous, list):
            raise NonAtomicWrite(f"{self.path}: not an active-model pointer")
        return ActivePointer(version, tuple(previous), int(doc.get("updated_ts", 0)), str(doc.get("reason", "")))

    def activate(self, version: str, ts: int, reason: str) -> ActivePointer:
        """Make `version` active; the outgoing one becomes the newest rollback target."""
        current = self.read()
        previous = current.previous + ((current.version,) if current.version else ())
        return self._write(ActivePointer(version, previous[-self.max_history :], ts, reason))

    def rollback(self, ts: int, reason: str, loadable: Callable[[str], bool]) -> ActivePointer:
        """Point back at the newest previous snapshot that still loads, or at no model."""
        current = self.read()
        target, used = choose_rollback_target(current.previous, loadable)
        remaining = current.previous[: len(current.previous) - used]
        return self._write(ActivePointer(target, remaining, ts, reason))

    def _write(self, pointer: ActivePointer) -> ActivePointer:
        write_critical_json(
            self.path,
            {
                "version": pointer.version,
                "previous": list(pointer.previous),
                "updated_ts": pointer.updated_ts,
                "reason": pointer.reason,
            },
        )
        return pointer
