"""Free disk for a night: an estimate of what the configured symbols and streams write, against free space.

The estimate (pure, from the config): market ticks per second per symbol x bytes written per tick x the
run's duration. Book updates are conflated to one tick per `binance.conflation_ms`; trades are not, so a
busy pair is assumed (BTCUSDT recorded 2024-08-08 in data/binance/ws: ~30 trades/s, fewer aggTrades).
Bytes per tick covers every file a tick causes (its queue line, the consumers' acks, what follows
downstream, logs, the request journal): a 10-minute `--sim` run of the shipped config wrote 10.0 MB for 8 571 ticks.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from minibot.config.binance import BinanceConfig
from minibot.config.views import RunSettings, WatchdogConfig
from minibot.doctor.rows import DoctorContext, Row, Status

BYTES_PER_TICK = 1200
TRADES_PER_S = {"aggTrade": 20.0, "trade": 30.0}
BOOK_UPDATES_PER_S = 100.0  # BTCUSDT bookTicker, recorded 2024-08-08: ~110 updates/s before conflation
MB = 1 << 20


@dataclass(frozen=True)
class DiskEstimate:
    """What a night at this config writes, and what it needs free (the estimate plus the STOP margin)."""

    ticks_per_s: float
    bytes_per_hour: float
    night_bytes: float
    needed_bytes: float


def estimate(cfg: dict[str, Any]) -> DiskEstimate:
    """Bytes a night of `cfg` writes (see the module docstring), plus `watchdog.disk_min_free_mb`."""
    binance = BinanceConfig.from_config(cfg)
    per_symbol = sum(TRADES_PER_S.get(kind, 0.0) for kind in binance.streams)
    if "bookTicker" in binance.streams:
        window_ms = float(binance.conflation_ms)
        per_symbol += min(BOOK_UPDATES_PER_S, 1000.0 / window_ms) if window_ms > 0 else BOOK_UPDATES_PER_S
    ticks = per_symbol * len(binance.symbols)
    per_hour = ticks * 3600 * BYTES_PER_TICK
    night = per_hour * RunSettings.from_config(cfg).duration_ms / 3_600_000
    return DiskEstimate(ticks, per_hour, night, night + WatchdogConfig.from_config(cfg).disk_min_free_mb * MB)


def check(ctx: DoctorContext) -> list[Row]:
    """Row `disk`: FAIL below what a night needs, WARN below twice that."""
    need = estimate(ctx.cfg)
    ctx.var.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(ctx.var).free
    hours = RunSettings.from_config(ctx.cfg).duration_ms / 3_600_000
    symbols = len(BinanceConfig.from_config(ctx.cfg).symbols)
    free_mb = WatchdogConfig.from_config(ctx.cfg).disk_min_free_mb
    detail = (
        f"{free / MB:,.0f} MB free at {ctx.var}; a {hours:g} h night of {symbols} "
        f"symbols writes about {need.night_bytes / MB:,.0f} MB ({need.bytes_per_hour / MB:,.0f} MB/h) and the "
        f"run STOPs below {free_mb} MB free"
    )
    action = "free disk space, or pass --var on a disk with more room"
    if free < need.needed_bytes:
        return [Row("disk", Status.FAIL, detail, action)]
    if free < 2 * need.night_bytes + (need.needed_bytes - need.night_bytes):
        return [Row("disk", Status.WARN, f"{detail}; little headroom", action)]
    return [Row("disk", Status.OK, detail)]
