"""Latency figures: the pipeline latency (wall clock) and the modelled order latency (market time) apart, with
p50 / p95 / p99 / max / count each (issue 14, item 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.metrics.latency import OrderArrivals, latency_lines, latency_section, order_arrivals
from minibot.metrics.report_data import RunData
from minibot.metrics.report_tables import latency_figures, latency_table
from minibot.metrics.stats import summarize

from ..core.builders import T0, env


def _intent(n: int, ts: int) -> dict[str, Any]:
    return env("order_intent", dict(EXAMPLE_PAYLOADS["order_intent"]), ts, n, source="risk_role")


def _result(n: int, ts: int, cause: str, result: str = "FILLED", reason: str | None = None) -> dict[str, Any]:
    payload = {**EXAMPLE_PAYLOADS["order_result"], "result": result, "cause_id": cause}
    if reason is not None:
        payload["reason_code"] = reason
    return env("order_result", payload, ts, 100 + n, source="execution_role")


def _timing(n: int, latency_ms: float, kind: str = "tick_to_fill") -> dict[str, Any]:
    payload = {"role": "execution_role", "kind": kind, "latency_ms": latency_ms}
    return env("timing", payload, T0 + n, 200 + n, source="execution_role")


def test_an_order_arrives_at_its_first_result_and_a_stale_rejection_never_arrives() -> None:
    a, b, c = _intent(1, T0), _intent(2, T0 + 1_000), _intent(3, T0 + 2_000)
    results = [
        _result(1, T0 + 130, a["id"], "NEW"),  # a LIMIT order placed 130 market ms after its decision
        _result(2, T0 + 9_000, "0" * 8 + "-0000-4000-8000-" + "0" * 12, "FILLED"),  # it fills later: no arrival
        _result(3, T0 + 1_100, b["id"]),
        _result(4, T0 + 8_000, c["id"], "REJECTED", "STALE_MARKET_DATA"),  # no tick came: never at the book
        _result(5, T0 + 1_200, b["id"]),  # a second result naming the same intent is no second arrival
    ]
    assert order_arrivals([a, b, c], results) == [130.0, 100.0]
    arrivals = OrderArrivals()
    arrivals.add_result(results[2])  # a result before its intent was read (a cut-off run): not an arrival
    assert list(arrivals.samples.values) == []


def test_the_section_keeps_pipeline_and_modelled_latency_apart() -> None:
    timings = {"tick_to_fill": summarize([1.0, 2.0, 3.0, 40.0]), "other": summarize([7.0])}
    section = latency_section(timings, summarize([100.0, 150.0]), 100)
    pipe, modelled = section["pipeline_ms"], section["modelled_ms"]
    assert {k: pipe[k] for k in ("count", "p50", "p95", "p99", "max")} == {
        "count": 4,
        "p50": 2.0,
        "p95": 40.0,
        "p99": 40.0,
        "max": 40.0,
    }
    assert pipe["clock"] == "wall" and "durable" in pipe["definition"] and "not in it" in pipe["definition"]
    assert modelled["configured"] == 100 and modelled["clock"] == "market" and modelled["observed"]["max"] == 150.0
    assert section["by_kind"] == timings
    first, second = latency_lines(section)
    assert first == (
        "pipeline latency (wall clock, tick receipt -> fill durable): p50 2.0 p95 40.0 p99 40.0 max 40.0 ms, 4 fills"
    )
    assert second == (
        "modelled order latency (market time): configured 100 ms, observed p50 100.0 p95 150.0 p99 150.0 max 150.0 ms"
        ", 2 orders"
    )
    empty = latency_section({}, summarize([]), None)
    assert empty["pipeline_ms"]["count"] == 0 and empty["pipeline_ms"]["p99"] is None
    assert latency_lines(empty)[0].endswith("p50 n/a p95 n/a p99 n/a max n/a ms, 0 fills")


def test_the_report_recomputes_the_section_when_metrics_json_lacks_it(tmp_path: Path) -> None:
    data = RunData(tmp_path, run={"config": {"execution": {"latency_ms": 100}}})
    a = _intent(1, T0)
    data.decided_ts = {a["id"]: T0}
    data.events["order_results"] = [_result(1, T0 + 250, a["id"])]
    data.events["timing"] = [_timing(1, 2.5), _timing(2, 4.5), _timing(3, 99.0, "other")]
    section = latency_figures(data)
    assert section["pipeline_ms"]["count"] == 2 and section["pipeline_ms"]["max"] == 4.5
    assert section["modelled_ms"]["observed"]["p50"] == 250.0 and section["modelled_ms"]["configured"] == 100
    html = latency_table(section)
    assert "pipeline: tick receipt -&gt; fill durable" in html and "modelled: order decision" in html
    assert "<td>wall</td>" in html and "<td>market</td>" in html
    # metrics.json's own section wins when it has one.
    data.metrics = {"latency": {**section, "pipeline_ms": {**section["pipeline_ms"], "count": 9}}}
    assert latency_figures(data)["pipeline_ms"]["count"] == 9
