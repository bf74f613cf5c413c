"""Config and bar-series builders for the strategy tests."""

from __future__ import annotations

from typing import Any

from ..core.builders import T0, tick
from ..core.fixtures import default_section


def cfg(**changes: Any) -> dict[str, Any]:
    """The shipped strategy defaults with `changes`; 1 s bars and no extra warm-up for short tests."""
    base = default_section("strategy")
    base.update({"bar_interval_ms": 1000, "warmup_bars": 0, "min_top_notional_quote": 0.0, "min_bar_ticks": 1})
    base.update(changes)
    return base


def bar_ticks(closes: list[float], interval_ms: int = 1000, start_n: int = 0, **kw: Any) -> list[dict]:
    """One tick per bar at the start of each bucket, plus a final tick that closes the last bar."""
    out = [tick(c, T0 + i * interval_ms, start_n + i, **kw) for i, c in enumerate(closes)]
    out.append(tick(closes[-1], T0 + len(closes) * interval_ms, start_n + len(closes), **kw))
    return out
