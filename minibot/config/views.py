"""Typed views of the run-infrastructure sections of `nore.v1.json`: queues, logging, metrics, watchdog, secrets
and the top-level keys. Field names are the schema's keys (`config/schema/<section>.schema.json` describes
each); values come from the validated config only (no defaults here). Build each with `View.from_config(cfg)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from minibot.sectionview import SectionView, build_view


@dataclass(frozen=True, slots=True)
class RunSettings(SectionView):
    """The top-level keys: config format, mode and the planned run length."""

    SECTION: ClassVar[str] = ""

    config_version: int
    mode: str
    duration_ms: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Self:
        """The top-level keys of the validated config `cfg` (they sit at its root, not in a section)."""
        return build_view(cls, cfg)


@dataclass(frozen=True, slots=True)
class QueuesConfig(SectionView):
    """The `queues` section: where the journals live, their fsync policies, segment and batch sizes."""

    SECTION: ClassVar[str] = "queues"

    base_dir: str
    names: tuple[str, ...]
    fsync: str
    fsync_overrides: Mapping[str, str]
    segment_max_bytes: int
    batch_max_events: int
    poll_interval_ms: int
    max_consumer_lag_events: int

    def fsync_of(self, queue: str) -> str:
        """The fsync policy text of `queue`: its override, else the general one."""
        return self.fsync_overrides.get(queue, self.fsync)


@dataclass(frozen=True, slots=True)
class MetricsConfig(SectionView):
    """The `metrics` section: collection intervals, the optional Prometheus endpoint, verdict thresholds."""

    SECTION: ClassVar[str] = "metrics"

    interval_s: float
    snapshot_interval_s: float
    prometheus_port: int | None
    prometheus_host: str
    max_latency_p95_ms: float
    max_error_rate: float


@dataclass(frozen=True, slots=True)
class WatchdogConfig(SectionView):
    """The `watchdog` section: heartbeats, silence, restarts with backoff, disk floor, stop grace."""

    SECTION: ClassVar[str] = "watchdog"

    heartbeat_interval_s: float
    silent_after_s: float
    restart_max: int
    restart_window_s: float
    restart_backoff_s: float
    restart_backoff_max_s: float
    disk_min_free_mb: int
    stop_grace_s: float


@dataclass(frozen=True, slots=True)
class SecretsConfig(SectionView):
    """The `secrets` section: where the secrets file is (a path, or the environment variable naming it)."""

    SECTION: ClassVar[str] = "secrets"

    path: str | None
    env_var: str | None
