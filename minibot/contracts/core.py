"""Types shared by the pure trading cores and their runners."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Output:
    """One event a core emits: the runner wraps it into an envelope (ts, id, source, run_id...)."""

    type: str
    payload: dict[str, Any]


class Core(Protocol):
    """A pure state machine: `step` reads no clock, draws no randomness, does no I/O."""

    def step(self, event: Mapping[str, Any]) -> list[Output]:
        """Apply one validated envelope and return the outputs it causes."""
        ...
