"""health_role as a real process against the real loopback simulator; its latency samples (pure)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minibot.exitcodes import ExitCode
from minibot.journal.stop import read_stop
from minibot.journal.verify import verify_path
from minibot.market.rest import PUBLIC_PATHS
from minibot.roles.latency_samples import LatencySamples, quantile
from tests.roles.market_harness import Run, make_run, wait_until

pytestmark = pytest.mark.process

STARTUP_REAL_S = 3.0
SPEED = 60.0
FAULT_AT_MS = int(STARTUP_REAL_S * 1000 * SPEED)


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    """Runs made by a test; their processes are killed and simulators stopped afterwards."""
    made: list[Run] = []
    yield made
    for run in made:
        run.kill_all()
        run.sim.stop()


def rounds(run: Run) -> list[dict[str, Any]]:
    """health_role's health-round payloads (heartbeats without probes left out)."""
    return [e["payload"] for e in run.events("health") if e["source"] == "health_role" and "probes" in e["payload"]]


def test_short_error_burst_degrades_then_recovers_and_reports_latency(tmp_path: Path, runs: list[Run]) -> None:
    fault = {"kind": "http_5xx", "at_ms": FAULT_AT_MS, "duration_ms": 20_000, "status": 503}
    run = make_run(tmp_path, SPEED, {"version": 1, "faults": [fault]})
    runs.append(run)
    run.start("health_role")

    def recovered() -> bool:
        states = [r["state"] for r in rounds(run)]
        bad = [i for i, s in enumerate(states) if s in ("DEGRADED", "DOWN")]
        return bool(bad) and "OK" in states[bad[-1] :]

    wait_until(recovered, 20, "DEGRADED/DOWN during the 5xx window, then OK again")
    run.shutdown()
    assert run.wait_exit("health_role") == ExitCode.OK, run.output("health_role")
    assert not run.stopped()
    payloads = rounds(run)
    failed = [p for p in payloads if p["state"] != "OK"]
    assert all("503" in p["error"] and p["endpoint"].startswith("/api/v3/") for p in failed), failed
    ok = payloads[-1]
    assert ok["state"] == "OK" and ok["endpoint"] == "/api/v3/ping" and ok["latency_ms"] >= 0
    latency = ok["latency"]
    assert {"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo"} <= set(latency)
    assert latency["/api/v3/ping"]["n"] > 3 and latency["/api/v3/ping"]["failures"] > 0
    assert latency["/api/v3/ping"]["p50_ms"] <= latency["/api/v3/ping"]["p95_ms"]
    assert verify_path(run.run_dir / "queues" / "health").ok
    requests = [e["payload"] for e in run.requests()]
    assert {r["status"] for r in requests} >= {200, 503}
    assert all(r["role"] == "health_role" and r["path"] in PUBLIC_PATHS for r in requests)
    assert run.sim.stats()["violations_total"] == 0


def test_outage_longer_than_the_threshold_stops_binance_unreachable(tmp_path: Path, runs: list[Run]) -> None:
    threshold_ms = 60_000
    fault = {"kind": "outage", "at_ms": FAULT_AT_MS, "duration_ms": 3_600_000}
    binance = {"health": {"unreachable_threshold_ms": threshold_ms}}
    run = make_run(tmp_path, SPEED, {"version": 1, "faults": [fault]}, binance)
    runs.append(run)
    run.start("health_role")
    assert run.wait_exit("health_role", 30) == ExitCode.STOPPED, run.output("health_role")
    held = read_stop(run.run_dir)
    assert held["payload"]["reason_code"] == "BINANCE_UNREACHABLE", held
    assert held["payload"]["component"] == "health_role"
    payloads = rounds(run)
    last_ok = max(i for i, p in enumerate(payloads) if p["state"] == "OK")
    after = payloads[last_ok + 1 :]
    assert "DOWN" in [p["state"] for p in after]  # DEGRADED, then DOWN after 3 failed probes, then STOP
    assert after[-1]["stop_reason"] == "BINANCE_UNREACHABLE"
    events = [e for e in run.events("health") if e["source"] == "health_role" and "probes" in e["payload"]]
    outage_ms = held["ts"] - events[last_ok]["ts"]
    # (the policy counts from the last good probe's start, a moment before its round's event)
    assert threshold_ms - 1_000 <= outage_ms < threshold_ms + 20_000, outage_ms
    assert verify_path(run.run_dir / "queues").ok


def test_latency_samples_quantiles_window_and_failures() -> None:
    samples = LatencySamples(window=100)
    for value in range(1, 201):  # only the last 100 (101..200) stay
        samples.add("/api/v3/ping", float(value))
    samples.add("/api/v3/ping", None)
    samples.add("/api/v3/time", None)
    summary = samples.summary()
    assert summary["/api/v3/ping"] == {"n": 100, "p50_ms": 150.0, "p95_ms": 195.0, "max_ms": 200.0, "failures": 1}
    assert summary["/api/v3/time"] == {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None, "failures": 1}
    assert quantile([5.0], 0.95) == 5.0 and quantile([1.0, 2.0], 0.5) == 1.0
    with pytest.raises(ValueError):
        LatencySamples(window=0)
