"""The reasons a `nore verify` verdict collects: a code and a specific detail each."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MAX_PER_CODE = 20  # listed one by one per code; the rest is summed up in one more reason of that code


@dataclass(frozen=True, slots=True)
class Reason:
    """One failed check."""

    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """For `--json`."""
        return {"code": self.code, "detail": self.detail}


@dataclass
class Reasons:
    """Every failed check of a verification; a run PASSes only when there is none."""

    items: list[Reason] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)  # facts worth saying that fail nothing (e.g. a roll-forward)

    def add(self, code: str, detail: str) -> None:
        """Record one failed check."""
        self.counts[code] += 1
        if self.counts[code] <= MAX_PER_CODE:
            self.items.append(Reason(code, detail))

    def listed(self) -> list[Reason]:
        """Every recorded reason, plus one `... and N more` line per code that had more than were listed."""
        more = [
            Reason(code, f"... and {n - MAX_PER_CODE} more {code} problems not listed")
            for code, n in sorted(self.counts.items())
            if n > MAX_PER_CODE
        ]
        return [*self.items, *more]

    def __bool__(self) -> bool:
        return bool(self.items)
