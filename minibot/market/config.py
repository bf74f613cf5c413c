"""Typed view of the validated `binance` config section (schema: config/schema/binance.schema.json)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minibot.config.loader import default_config_path


@dataclass(frozen=True, slots=True)
class BinanceConfig:
    """The `binance` section; durations are run-clock (see the schema's descriptions)."""

    rest_base_url: str
    ws_base_url: str
    symbols: tuple[str, ...]
    streams: tuple[str, ...]
    rest_timeout_s: float
    ws_connect_timeout_s: float
    weight_limit: int
    weight_slow_fraction: float
    health_interval_s: float
    exchange_info_interval_s: float
    unreachable_threshold_ms: int
    error_rate_threshold: float
    error_rate_window: int
    down_after_failures: int
    slow_latency_ms: float
    max_clock_skew_ms: int
    backoff_base_ms: float
    backoff_max_ms: float
    proactive_reconnect_ms: int
    stale_stream_ms: int
    rest_fallback_poll_ms: int
    backfill_page_limit: int
    backfill_max_pages: int
    backfill_attempts: int
    backfill_retry_ms: int
    conflation_ms: int
    depth_levels: int = 0

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> BinanceConfig:
        """Build from a section already validated against binance.schema.json."""
        health, reconnect, backfill = section["health"], section["reconnect"], section["backfill"]
        return cls(
            rest_base_url=section["rest_base_url"],
            ws_base_url=section["ws_base_url"],
            symbols=tuple(section["symbols"]),
            streams=tuple(section["streams"]),
            rest_timeout_s=float(section["rest_timeout_s"]),
            ws_connect_timeout_s=float(section["ws_connect_timeout_s"]),
            weight_limit=int(section["weight_limit"]),
            weight_slow_fraction=float(section["weight_slow_fraction"]),
            health_interval_s=float(health["interval_s"]),
            exchange_info_interval_s=float(health["exchange_info_interval_s"]),
            unreachable_threshold_ms=int(health["unreachable_threshold_ms"]),
            error_rate_threshold=float(health["error_rate_threshold"]),
            error_rate_window=int(health["error_rate_window"]),
            down_after_failures=int(health["down_after_failures"]),
            slow_latency_ms=float(health["slow_latency_ms"]),
            max_clock_skew_ms=int(health["max_clock_skew_ms"]),
            backoff_base_ms=float(reconnect["backoff_base_ms"]),
            backoff_max_ms=float(reconnect["backoff_max_ms"]),
            proactive_reconnect_ms=int(section["proactive_reconnect_ms"]),
            stale_stream_ms=int(section["stale_stream_ms"]),
            rest_fallback_poll_ms=int(section["rest_fallback_poll_ms"]),
            backfill_page_limit=int(backfill["page_limit"]),
            backfill_max_pages=int(backfill["max_pages"]),
            backfill_attempts=int(backfill["attempts"]),
            backfill_retry_ms=int(backfill["retry_ms"]),
            conflation_ms=int(section["conflation_ms"]),
            depth_levels=int(section.get("depth_levels", 0)),
        )


def default_section() -> dict[str, Any]:
    """The shipped `binance` section (of minibot/config/nore.v1.json)."""
    section: dict[str, Any] = json.loads(default_config_path().read_text(encoding="utf-8"))["binance"]
    return section
