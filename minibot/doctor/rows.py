"""Doctor rows (OK / WARN / FAIL, with what to do), the context every check reads, and the report."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from minibot.clock import RunClock


class Status(StrEnum):
    """How one row came out: FAIL means a night on this machine would fail; WARN that it may suffer."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Row:
    """One line of the report: which check, its outcome, what was found and, unless OK, what to do."""

    check: str
    status: Status
    detail: str
    action: str = ""

    def text(self) -> str:
        """`STATUS check: detail -> action` (no action when OK)."""
        line = f"{self.status.value:<4}  {self.check}: {self.detail}"
        return f"{line}\n      -> {self.action}" if self.action else line


@dataclass(frozen=True)
class DoctorContext:
    """What the checks look at: the config as a night would use it, its var folder and the Binance URLs."""

    cfg: dict[str, Any]
    var: Path
    rest_url: str
    ws_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    # The clock Binance's time is compared with: this machine's wall clock; under --sim the simulator's
    # run clock as `nore run --sim` adopts it (the simulator does not serve wall time).
    clock: Callable[[], RunClock] = RunClock.start_now


def exit_code(rows: Sequence[Row]) -> int:
    """0 when nothing FAILed, else 1."""
    return 1 if any(r.status is Status.FAIL for r in rows) else 0


def as_json(rows: Sequence[Row]) -> dict[str, Any]:
    """The report as a JSON document: `ok` and every row."""
    return {
        "ok": exit_code(rows) == 0,
        "rows": [{**asdict(r), "status": r.status.value} for r in rows],
    }


def summary(rows: Sequence[Row]) -> str:
    """The closing line of the text report."""
    counts = {s: sum(1 for r in rows if r.status is s) for s in Status}
    verdict = "this machine can run NORE" if exit_code(rows) == 0 else "fix every FAIL before a night"
    return f"{counts[Status.OK]} OK, {counts[Status.WARN]} WARN, {counts[Status.FAIL]} FAIL: {verdict}"
