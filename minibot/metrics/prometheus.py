"""Optional Prometheus endpoint (`metrics.prometheus_port`, on `metrics.prometheus_host`, loopback by default).

The exporter serves the last document `MetricsCollector.write()` produced (`collector.latest`), so a scrape
never races the supervisor's update: the document is replaced whole, never changed in place. Latencies are
wall-clock milliseconds, as in metrics.json; amounts are in the quote asset.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any, Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from minibot.config.views import MetricsConfig

QUANTILES = (("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99"))


class HasLatest(Protocol):
    """What the exporter needs of a metrics collector."""

    latest: dict[str, Any] | None


def _gauge(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], Any]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        if isinstance(value, int | float):  # None (not measured yet) is left out; True/False count as 1/0
            family.add_metric(values, float(value))
    return family


def _counter(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], Any]]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        if isinstance(value, int | float):
            family.add_metric(values, float(value))
    return family


def _quantiles(prefix: list[str], summary: Mapping[str, Any]) -> list[tuple[list[str], Any]]:
    return [([*prefix, q], summary.get(key)) for key, q in QUANTILES]


def families(doc: Mapping[str, Any]) -> Iterator[Metric]:
    """Prometheus metric families of one metrics.json document."""
    run = [doc["run_id"]]
    yield _gauge(
        "nore_elapsed_seconds", "Run-clock seconds since the run started", ["run_id"], [(run, doc["elapsed_s"])]
    )
    yield _counter(
        "nore_queue_events", "Events written to each queue", ["queue"], [([q], n) for q, n in doc["counts"].items()]
    )
    roles = doc["roles"]
    for key, name, help_ in (
        ("alive", "nore_role_alive", "1 when the role's process is running"),
        ("restarts", "nore_role_restarts", "Restarts of the role by the watchdog"),
        ("uptime_s", "nore_role_uptime_seconds", "Run-clock seconds since the role's current process started"),
        ("alive_pct", "nore_role_alive_percent", "Share of the run the role was heartbeating"),
        ("cpu_pct", "nore_role_cpu_percent", "CPU of the role's process (percent of one core)"),
        ("rss_mb", "nore_role_rss_megabytes", "Resident memory of the role's process"),
    ):
        yield _gauge(name, help_, ["role"], [([r], v.get(key)) for r, v in roles.items()])
    binance = doc["binance"]
    endpoints = binance["endpoints"]
    yield _counter(
        "nore_binance_requests",
        "REST requests sent",
        ["endpoint"],
        [([e], v["requests"]) for e, v in endpoints.items()],
    )
    yield _counter(
        "nore_binance_errors", "REST requests failed", ["endpoint"], [([e], v["errors"]) for e, v in endpoints.items()]
    )
    rows = [row for e, v in endpoints.items() for row in _quantiles([e], v["latency_ms"])]
    yield _gauge("nore_binance_latency_ms", "REST round trip, wall-clock ms", ["endpoint", "quantile"], rows)
    pipeline = _quantiles([], doc["latency"]["pipeline_ms"])
    pipeline_help = "Tick receipt to fill durable (pipeline latency), wall-clock ms"
    yield _gauge("nore_pipeline_latency_ms", pipeline_help, ["quantile"], pipeline)
    modelled = _quantiles([], doc["latency"]["modelled_ms"]["observed"])
    modelled_help = "Order decision to arrival at the book (modelled latency), market-time ms"
    yield _gauge("nore_order_arrival_market_ms", modelled_help, ["quantile"], modelled)
    lag = [([q, c], v["lag"]) for q, consumers in doc["queue_lag"].items() for c, v in consumers.items()]
    yield _gauge("nore_queue_lag_events", "Events of a queue its consumer has not acked", ["queue", "consumer"], lag)
    pnl = doc["pnl"]
    pnl_rows = [([k], pnl.get(k)) for k in ("total_pnl", "realized_pnl", "unrealized_pnl", "equity", "fees_paid")]
    yield _gauge("nore_pnl_quote", "Virtual account figures in the quote asset", ["figure"], pnl_rows)
    yield _gauge(
        "nore_max_drawdown_ratio", "Max drawdown of virtual equity (fraction)", [], [([], pnl.get("max_drawdown"))]
    )
    yield _gauge("nore_win_rate", "Won round trips / round trips", [], [([], pnl.get("win_rate"))])
    yield _gauge("nore_reward_risk", "Average win / average loss (R:R)", [], [([], pnl.get("rr"))])
    yield _counter("nore_round_trips", "Closed round trips", [], [([], pnl.get("trips"))])
    stops = doc["stops"]
    yield _counter(
        "nore_stops", "STOP events by reason", ["reason_code"], [([r], n) for r, n in stops["reasons"].items()]
    )
    yield _gauge("nore_stop_share", "Share of the planned run lost to STOP", [], [([], stops["share"])])


class _Exporter(Collector):
    def __init__(self, source: HasLatest) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        doc = self.source.latest
        if doc is not None:
            yield from families(doc)


class PrometheusEndpoint:
    """A running exporter; `port` is the bound port (useful with port 0)."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self.server.server_address[1])

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5.0)


def start_prometheus(collector: HasLatest, host: str = "127.0.0.1", port: int = 0) -> PrometheusEndpoint:
    """Serve `collector`'s latest metrics at http://host:port/metrics (daemon thread); port 0 picks a free one."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exporter(collector))
    server, thread = start_http_server(port, addr=host, registry=registry)
    return PrometheusEndpoint(server, thread)


def start_from_config(collector: HasLatest, metrics_cfg: MetricsConfig) -> PrometheusEndpoint | None:
    """The endpoint `metrics.prometheus_port` / `metrics.prometheus_host` ask for; None when the port is null."""
    if metrics_cfg.prometheus_port is None:
        return None
    return start_prometheus(collector, metrics_cfg.prometheus_host, metrics_cfg.prometheus_port)
