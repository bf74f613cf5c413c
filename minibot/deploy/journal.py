"""The deploy journal: `<staging>/deploy_journal.jsonl`, sha256 lines of `deploy_event` events (source `cli`).

Every stage/check/apply action and every refusal is one event. The envelope's `run_id` is the session id of
the command that acted (`YYYYMMDD_HHMMSS`, UTC) and `cmdline_hash` the sha256 of its command line, so each
line names the exact command that produced it. Writes are fsync'ed per event.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from minibot.contracts.envelope import build_envelope, encode_event
from minibot.deploy.check import Problem
from minibot.deploy.paths import JOURNAL
from minibot.ids import cmdline_hash, new_run_id, process_command_line, random_id
from minibot.journal.segments import FsyncPolicy, SegmentAppender

SOURCE = "cli"
_SEGMENT_MAX = 64 << 20


def now_ms() -> int:
    """Wall-clock unix ms (deployment happens outside any run clock)."""
    return time.time_ns() // 1_000_000


class Session:
    """The identity of one `nore stage`/`nore deploy` invocation."""

    def __init__(self, command_line: str | None = None) -> None:
        self.command_line = process_command_line() if command_line is None else command_line
        self.cmdline_hash = cmdline_hash(self.command_line)
        self.session_id = new_run_id()


class DeployJournal:
    """Appends deploy_event lines; callers hold the staging lock."""

    def __init__(self, staging_root: Path, session: Session) -> None:
        staging_root.mkdir(parents=True, exist_ok=True)
        self.session = session
        self._out = SegmentAppender(staging_root, JOURNAL.removesuffix(".jsonl"), FsyncPolicy("always"), _SEGMENT_MAX)

    def record(self, action: str, path: str, sha256: str, **extra: Any) -> dict[str, Any]:
        """Validate and append one event; returns it."""
        event = build_envelope(
            type_="deploy_event",
            payload={"action": action, "path": path, "sha256": sha256, **extra},
            ts=now_ms(),
            id_=random_id(),
            source=SOURCE,
            run_id=self.session.session_id,
            cmdline_hash=self.session.cmdline_hash,
        )
        self._out.append(encode_event(event))
        return event

    def refused(self, problem: Problem) -> dict[str, Any]:
        """Journal one refusal with its code and detail."""
        return self.record("REFUSED", problem.path, problem.sha256, reason=problem.code.value, detail=problem.detail)

    def close(self) -> None:
        """Flush and close the journal file."""
        self._out.close()
