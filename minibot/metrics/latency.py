"""The latency figures of a run, kept apart because they are on different clocks (docs/core.md, "Pipeline
latency" and "Modelled latency").

- Pipeline latency, wall clock: what the processes, queues and disk add between market_role's receipt of a
  tick and the durability of a fill made at it (execution_role's `timing` events of kind `tick_to_fill`).
- Modelled order latency, market time: what the paper executor models on the market timeline, the configured
  `execution.latency_ms` and, observed, how long each order took from its decision (the order_intent's
  `ts`) to the tick at which it reached the book (the `ts` of its first order_result, which names the
  intent as its cause). The observed figure is the configured one plus the wait for the next tick of the
  order's symbol; an order rejected as STALE_MARKET_DATA never reached a book and is left out.

Pure: the collector (metrics.json, `nore verify --json`) and the report fold events in and read summaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from minibot.metrics.stats import Samples, summarize

# The `timing` kind execution_role publishes for each fill (minibot/roles/fill_timing.py).
PIPELINE_KIND = "tick_to_fill"
PIPELINE_DEFINITION = (
    "wall-clock ms from market_role's receipt of the tick a fill is made at to the fill line being durable "
    "(the fills queue's fsync policy done); the modelled order latency and the conflation hold are not in it"
)
MODELLED_DEFINITION = (
    "market-time ms from an order's decision (its order_intent's ts) to the tick at which it reached the book "
    "(its first order_result's ts): execution.latency_ms plus the wait for the next tick of its symbol"
)
_NEVER_ARRIVED = "STALE_MARKET_DATA"


class OrderArrivals:
    """Market time each order took to reach the book, folded from order_intents and order_results."""

    def __init__(self) -> None:
        self._decided: dict[str, int] = {}  # intent id -> its ts, until its first order_result
        self.samples = Samples()

    def add_intent(self, event: Mapping[str, Any]) -> None:
        """One order_intent: the order is decided at its `ts`."""
        self._decided[str(event["id"])] = int(event["ts"])

    def add_result(self, event: Mapping[str, Any]) -> None:
        """One order_result: the first one of an intent is its arrival at the book (later results of a
        resting order name the tick that ended it as their cause, and are no arrival)."""
        payload = event["payload"]
        decided = self._decided.pop(str(payload["cause_id"]), None)
        if decided is not None and payload.get("reason_code") != _NEVER_ARRIVED:
            self.samples.add(int(event["ts"]) - decided)


def order_arrivals(intents: Iterable[Mapping[str, Any]], results: Iterable[Mapping[str, Any]]) -> list[float]:
    """Market ms from decision to arrival of every order answered in `results` (all intents first)."""
    arrivals = OrderArrivals()
    for intent in intents:
        arrivals.add_intent(intent)
    for result in results:
        arrivals.add_result(result)
    return list(arrivals.samples.values)


def latency_section(
    timings: Mapping[str, dict[str, Any]], arrivals: dict[str, Any], configured_ms: int | None
) -> dict[str, Any]:
    """metrics.json's `latency`: `pipeline_ms` and `modelled_ms` apart, plus every timing kind in `by_kind`.

    `timings`: summary per timing kind; `arrivals`: summary of the observed order arrivals (market ms);
    `configured_ms`: the run's `execution.latency_ms`.
    """
    return {
        "pipeline_ms": {
            **timings.get(PIPELINE_KIND, summarize([])),
            "clock": "wall",
            "definition": PIPELINE_DEFINITION,
        },
        "modelled_ms": {
            "configured": configured_ms,
            "observed": arrivals,
            "clock": "market",
            "definition": MODELLED_DEFINITION,
        },
        "by_kind": dict(timings),
    }


def latency_lines(section: Mapping[str, Any]) -> list[str]:
    """Two lines for text output: the pipeline latency, then the modelled order latency."""
    pipe, modelled = section["pipeline_ms"], section["modelled_ms"]
    observed = modelled["observed"]
    configured = modelled["configured"]
    return [
        f"pipeline latency (wall clock, tick receipt -> fill durable): {quantile_text(pipe)} ms, {pipe['count']} fills",
        f"modelled order latency (market time): configured {'n/a' if configured is None else configured} ms, "
        f"observed {quantile_text(observed)} ms, {observed['count']} orders",
    ]


def quantile_text(summary: Mapping[str, Any]) -> str:
    """`p50 1.2 p95 3.4 p99 5.6 max 7.8` (n/a for a figure without samples)."""
    parts = []
    for key in ("p50", "p95", "p99", "max"):
        value = summary.get(key)
        parts.append(f"{key} {'n/a' if value is None else f'{value:.1f}'}")
    return " ".join(parts)
