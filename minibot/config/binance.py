"""Typed view of the validated `binance` section (schema: config/schema/binance.schema.json, which describes
each key; durations are run-clock)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from minibot.config.loader import with_schema_defaults
from minibot.sectionview import SectionView, build_view


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """`binance.health`: the health checker's probe intervals and its fail-closed policy thresholds."""

    interval_s: float
    exchange_info_interval_s: float
    unreachable_threshold_ms: int
    error_rate_threshold: float
    error_rate_window: int
    down_after_failures: int
    slow_latency_ms: float
    max_clock_skew_ms: int


@dataclass(frozen=True, slots=True)
class ReconnectSettings:
    """`binance.reconnect`: the WS client's full-jitter backoff bounds."""

    backoff_base_ms: float
    backoff_max_ms: float


@dataclass(frozen=True, slots=True)
class BackfillSettings:
    """`binance.backfill`: aggTrade gap back-fill paging and retries."""

    page_limit: int
    max_pages: int
    attempts: int
    retry_ms: int


@dataclass(frozen=True, slots=True)
class BinanceConfig(SectionView):
    """The `binance` section."""

    SECTION: ClassVar[str] = "binance"

    rest_base_url: str
    ws_base_url: str
    symbols: tuple[str, ...]
    streams: tuple[str, ...]
    rest_timeout_s: float
    ws_connect_timeout_s: float
    weight_limit: int
    weight_slow_fraction: float
    health: HealthSettings
    reconnect: ReconnectSettings
    proactive_reconnect_ms: int
    stale_stream_ms: int
    rest_fallback_poll_ms: int
    backfill: BackfillSettings
    conflation_ms: int
    depth_levels: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Self:
        """The view of the `binance` section of the validated `cfg`; its optional `depth_levels` takes the
        schema's default when the section leaves it out (the config as loaded, and run.json, keep it out)."""
        return build_view(cls, with_schema_defaults({cls.SECTION: cfg[cls.SECTION]})[cls.SECTION])
