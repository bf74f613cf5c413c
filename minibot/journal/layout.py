"""Where a queue's files live (R-A2): `<queues>/<name>/{inbox,acks,deadletter}.jsonl + cursor.json`.

The first consumer listed for a queue in contracts.v1.json owns `cursor.json` and `acks.jsonl`; any other
consumer (e.g. ai_role reading market_ticks) has `cursor.<consumer>.json` and `acks.<consumer>.jsonl`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minibot.contracts.registry import QueueContract, registry

INBOX = "inbox"
DEADLETTER = "deadletter"
RECOVERY = "recovery"
LOCK = ".producer.lock"


@dataclass(frozen=True, slots=True)
class QueuePaths:
    """Paths of one queue folder."""

    folder: Path
    contract: QueueContract

    @classmethod
    def of(cls, queues_dir: Path, name: str) -> QueuePaths:
        """Paths for queue `name` under `queues_dir` (the queue must be in contracts.v1.json)."""
        contract = registry().queues.get(name)
        if contract is None:
            raise KeyError(f"queue {name!r} is not declared in contracts.v1.json")
        return cls(Path(queues_dir) / name, contract)

    @property
    def lock(self) -> Path:
        """Cross-process producer lock file."""
        return self.folder / LOCK

    def is_primary(self, consumer: str) -> bool:
        """Whether `consumer` owns the R-A2 names cursor.json / acks.jsonl."""
        return bool(self.contract.consumers) and self.contract.consumers[0] == consumer

    def acks_stem(self, consumer: str) -> str:
        """Journal stem of `consumer`'s acks."""
        return "acks" if self.is_primary(consumer) else f"acks.{consumer}"

    def cursor(self, consumer: str) -> Path:
        """`consumer`'s cursor file."""
        return self.folder / ("cursor.json" if self.is_primary(consumer) else f"cursor.{consumer}.json")

    def create(self) -> None:
        """Create the folder and the R-A2 files so an empty queue is still complete and verifiable."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for stem in (INBOX, "acks", DEADLETTER):
            (self.folder / f"{stem}.jsonl").touch(exist_ok=True)
        (self.folder / f"{INBOX}.jsonl.chain").touch(exist_ok=True)  # the inbox's hash chain (chain.py)
