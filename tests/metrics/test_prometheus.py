"""The optional Prometheus endpoint, scraped over HTTP on 127.0.0.1 (port 0: a free port)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from minibot.config.views import MetricsConfig
from minibot.metrics.collector import MetricsCollector
from minibot.metrics.prometheus import start_from_config, start_prometheus

from .runbuild import END, RunBuilder, populate, roles_view


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted labels: value} of one scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


@pytest.mark.process
def test_scrape_serves_the_last_written_metrics(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path)
    populate(b)
    b.close()
    collector = MetricsCollector(b.run_dir)
    assert (
        start_from_config(collector, MetricsConfig.from_config(collector.config)) is None
    )  # prometheus_port null: off
    endpoint = start_prometheus(collector, "127.0.0.1", 0)
    try:
        assert endpoint.port > 0 and "nore_queue_events_total" not in scrape(endpoint.port)  # nothing written yet
        collector.update(END, roles_view(alive=False))
        collector.write(final=True)
        got = scrape(endpoint.port)
    finally:
        endpoint.close()
        collector.close()
    assert got["nore_queue_events_total"][(("queue", "fills"),)] == 2.0
    assert got["nore_queue_events_total"][(("queue", "market_ticks"),)] == 5.0
    assert got["nore_binance_requests_total"][(("endpoint", "/api/v3/ping"),)] == 25.0
    assert got["nore_binance_latency_ms"][(("endpoint", "/api/v3/time"), ("quantile", "0.95"))] == 6.0
    assert got["nore_pnl_quote"][(("figure", "realized_pnl"),)] == collector.latest["pnl"]["realized_pnl"]
    assert got["nore_role_alive"][(("role", "market_role"),)] == 0.0
    assert got["nore_role_alive_percent"][(("role", "market_role"),)] == 100.0
    assert got["nore_queue_lag_events"][(("consumer", "risk_role"), ("queue", "fills"))] == 2.0
    assert got["nore_win_rate"][()] == 1.0 and got["nore_stop_share"][()] == 0.0
    assert "nore_reward_risk" not in got  # R:R undefined without a losing trip: left out, not 0
