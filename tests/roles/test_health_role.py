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

SPEED = 60.0
# A role process takes ~1 s to come up on a quiet machine, 5-7 s on a busy 2-core CI box: a fault that must
# come after its first OK round starts this late, and the test checks that it did.
STARTUP_REAL_S = 12.0
FAULT_AT_MS = int(STARTUP_REAL_S * 1000 * SPEED)
# slow_latency_ms at speed 60 is 33 real ms, which a busy box exceeds at random: slow probes are proven by
# tests/market/test_against_sim.py::test_latency_degrades_then_recovers; here they would only measure the load.
CALM = {"health": {"slow_latency_ms": 60_000}}


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


def brief(payloads: list[dict[str, Any]]) -> list[tuple[float, str, str]]:
    """(uptime_s, state, error) of health rounds, for assertion messages."""
    return [(p["uptime_s"], p["state"], p.get("error", "")) for p in payloads]


def wait_first_ok_before(run: Run, role: str, fault_at_ms: int) -> None:
    """Wait for the role's first OK round and check that it came before the fault window opened."""
    wait_until(
        lambda: any(p["state"] == "OK" for p in rounds(run)),
        STARTUP_REAL_S,
        f"{role}'s first OK round",
        detail=lambda: (brief(rounds(run)), run.output(role)[-1500:]),
    )
    assert run.sim.running.ctx.clock.elapsed_ms() < fault_at_ms, f"{role} came up after the fault started"


def test_short_error_burst_degrades_then_recovers_and_reports_latency(tmp_path: Path, runs: list[Run]) -> None:
    # A 5xx burst every 2 real s: whenever the process is up (a busy box may take seconds), a burst follows soon.
    fault = {"kind": "http_5xx", "at_ms": 60_000, "duration_ms": 20_000, "every_ms": 120_000, "status": 503}
    run = make_run(tmp_path, SPEED, {"version": 1, "faults": [fault]}, CALM)
    runs.append(run)
    run.start("health_role")

    def recovered_ok() -> dict[str, Any] | None:
        """The last OK round after a DEGRADED/DOWN one, once its latency shows a few good pings and a failed one
        (a burst may catch only a round's later probes when the process is starved during it)."""
        payloads = rounds(run)
        bad = [i for i, p in enumerate(payloads) if p["state"] in ("DEGRADED", "DOWN")]
        ok = [p for p in payloads[bad[0] :] if p["state"] == "OK"] if bad else []
        ping = ok[-1]["latency"]["/api/v3/ping"] if ok else {}
        return ok[-1] if ping and ping["n"] > 3 and ping["failures"] > 0 else None

    wait_until(
        lambda: recovered_ok() is not None,
        45,
        "DEGRADED/DOWN during a 5xx burst, then OK again",
        detail=lambda: brief(rounds(run)),
    )
    run.shutdown()
    assert run.wait_exit("health_role") == ExitCode.OK, run.output("health_role")
    assert not run.stopped()
    payloads = rounds(run)
    failed = [p for p in payloads if p["state"] != "OK"]
    assert all("503" in p["error"] and p["endpoint"].startswith("/api/v3/") for p in failed), brief(failed)
    ok = recovered_ok()
    assert ok is not None and ok["endpoint"] == "/api/v3/ping" and ok["latency_ms"] >= 0, brief(payloads)
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
    binance = {"health": {"unreachable_threshold_ms": threshold_ms, **CALM["health"]}}
    run = make_run(tmp_path, SPEED, {"version": 1, "faults": [fault]}, binance)
    runs.append(run)
    run.start("health_role")
    wait_first_ok_before(run, "health_role", FAULT_AT_MS)
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
    # The policy counts from the last good probe's start: after the round before the last OK one was published,
    # before the last OK one was (a busy box can stretch a round by seconds of run clock at speed 60).
    assert last_ok >= 1, brief(payloads)
    assert held["ts"] - events[last_ok - 1]["ts"] >= threshold_ms, (held, brief(payloads[last_ok - 1 :]))
    assert held["ts"] - events[last_ok]["ts"] < threshold_ms + 20_000, (held, brief(payloads[last_ok - 1 :]))
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
