"""What every role of a run shares: the run directory, identity, clock and queue settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minibot.journal.consumer import Consumer
from minibot.journal.layout import QueuePaths
from minibot.journal.producer import Producer

DEFAULT_QUEUES: Mapping[str, Any] = {
    "base_dir": "queues",
    "fsync": "always",
    "fsync_overrides": {},
    "segment_max_bytes": 64 << 20,
    "batch_max_events": 1000,
}


@dataclass(frozen=True)
class RunContext:
    """A run's directory, identity and clock, and factories for its queue endpoints."""

    run_dir: Path
    run_id: str
    cmdline_hash: str
    clock: Callable[[], int]
    queues: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_QUEUES))
    # Given by the role and supervisor processes (minibot/journal/doorbell.py `queue_ringer`): each batch a
    # producer appends rings the queue's consumers. Injected, not imported, so the AI package, which builds
    # contexts for its gate, never reaches a socket (import-linter's AI isolation contract).
    ringer: Callable[[Path, tuple[str, ...], str], Callable[[], None]] | None = None

    @property
    def queues_dir(self) -> Path:
        """Folder holding one folder per queue."""
        return self.run_dir / str(self.queues.get("base_dir", "queues"))

    def queue_paths(self, name: str) -> QueuePaths:
        """Paths of queue `name`."""
        return QueuePaths.of(self.queues_dir, name)

    def fsync_for(self, name: str) -> str:
        """The fsync policy configured for queue `name`."""
        return str(self.queues.get("fsync_overrides", {}).get(name, self.queues.get("fsync", "always")))

    def producer(self, queue: str, source: str, fsync: str | None = None) -> Producer:
        """A producer writing as `source` to `queue`; with a `ringer`, each batch it appends rings the queue's
        consumers (minibot/journal/doorbell.py)."""
        paths = self.queue_paths(queue)
        producer = Producer(
            paths,
            source=source,
            run_id=self.run_id,
            cmdline_hash=self.cmdline_hash,
            clock=self.clock,
            fsync=fsync or self.fsync_for(queue),
            segment_max_bytes=int(self.queues.get("segment_max_bytes", 64 << 20)),
        )
        if self.ringer is not None:
            producer.after_publish = self.ringer(self.run_dir, tuple(paths.contract.consumers), queue)
        return producer

    def consumer(self, queue: str, consumer: str) -> Consumer:
        """`consumer`'s reader of `queue`."""
        return Consumer(
            self.queue_paths(queue),
            consumer,
            run_id=self.run_id,
            cmdline_hash=self.cmdline_hash,
            clock=self.clock,
            fsync=self.fsync_for(queue),
            batch_max=int(self.queues.get("batch_max_events", 1000)),
        )
