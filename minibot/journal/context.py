"""What every role of a run shares: the run directory, identity, clock and queue settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from minibot.config.loader import load_config
from minibot.config.views import QueuesConfig
from minibot.journal.consumer import Consumer
from minibot.journal.layout import QueuePaths
from minibot.journal.producer import Producer
from minibot.sectionview import build_view


@dataclass(frozen=True)
class RunContext:
    """A run's directory, identity and clock, and factories for its queue endpoints."""

    run_dir: Path
    run_id: str
    cmdline_hash: str
    clock: Callable[[], int]
    queues: QueuesConfig
    # Given by the role and supervisor processes (minibot/journal/doorbell.py `queue_ringer`): each batch a
    # producer appends rings the queue's consumers. Injected, not imported, so the AI package, which builds
    # contexts for its gate, never reaches a socket (import-linter's AI isolation contract).
    ringer: Callable[[Path, tuple[str, ...], str], Callable[[bool], None]] | None = None

    @property
    def queues_dir(self) -> Path:
        """Folder holding one folder per queue."""
        return self.run_dir / self.queues.base_dir

    def queue_paths(self, name: str) -> QueuePaths:
        """Paths of queue `name`."""
        return QueuePaths.of(self.queues_dir, name)

    def fsync_for(self, name: str) -> str:
        """The fsync policy configured for queue `name`."""
        return self.queues.fsync_of(name)

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
            segment_max_bytes=self.queues.segment_max_bytes,
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
            batch_max=self.queues.batch_max_events,
        )


@cache
def scratch_queues() -> QueuesConfig:
    """Queue settings for a throwaway run (gates, tests): the shipped ones, but every batch of every queue is
    fsynced (`always`), so what such a run checks never depends on a group-commit timer."""
    section = load_config()["queues"]
    return build_view(QueuesConfig, {**section, "fsync": "always", "fsync_overrides": {}})
