"""HealthPolicy (R-T4): short outages degrade and recover, long ones / error rates / bans STOP."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from minibot.market.health import HealthPolicy, ProbeResult
from minibot.reasons import ReasonCode

T0 = 1_700_000_000_000


def ok(ts: int, latency: float = 1.0) -> ProbeResult:
    return ProbeResult("/api/v3/ping", "ok", ts, latency)


def fail(ts: int, kind: str = "transport") -> ProbeResult:
    return ProbeResult("/api/v3/ping", kind, ts, None, "boom")  # type: ignore[arg-type]


def test_short_outage_degrades_then_recovers() -> None:
    policy = HealthPolicy(T0, threshold_ms=180_000, down_after=3)
    assert policy.record(ok(T0)).state == "OK"
    states = [policy.record(fail(T0 + i * 5000)).state for i in range(1, 13)]  # 60 s of refusals
    assert states[:2] == ["DEGRADED", "DEGRADED"]
    assert set(states[2:]) == {"DOWN"}
    verdict = policy.record(ok(T0 + 65_000))
    assert verdict.state == "OK" and verdict.stop is None


def test_outage_longer_than_threshold_stops_unreachable() -> None:
    policy = HealthPolicy(T0, threshold_ms=180_000)
    policy.record(ok(T0))
    verdicts = [policy.record(fail(T0 + i * 5000)) for i in range(1, 40)]
    first_stop = next(i for i, v in enumerate(verdicts, start=1) if v.stop is not None)
    assert first_stop * 5000 == 180_000
    assert verdicts[-1].stop is ReasonCode.BINANCE_UNREACHABLE
    # A STOP is final: a later success does not undo it.
    assert policy.record(ok(T0 + 400_000)).stop is ReasonCode.BINANCE_UNREACHABLE


def test_never_reachable_counts_from_start() -> None:
    policy = HealthPolicy(T0, threshold_ms=10_000)
    assert policy.record(fail(T0 + 5000)).stop is None
    verdict = policy.record(fail(T0 + 10_000))
    assert verdict.stop is ReasonCode.BINANCE_UNREACHABLE and "since the start" in (verdict.detail or "")


def test_error_rate_over_threshold_stops() -> None:
    policy = HealthPolicy(T0, threshold_ms=10**9, error_rate_threshold=0.5, window=10)
    reasons = []
    for i in range(20):
        result = fail(T0 + i, "http") if i % 4 != 3 else ok(T0 + i)
        reasons.append(policy.record(result).stop)
    assert ReasonCode.BINANCE_ERROR_RATE in reasons
    assert reasons.index(ReasonCode.BINANCE_ERROR_RATE) == 6  # the 6th http error of the window


def test_error_burst_below_rate_recovers() -> None:
    policy = HealthPolicy(T0, error_rate_threshold=0.5, window=120)
    for i in range(24):  # one minute of 5xx at two probes per 5 s round
        assert policy.record(fail(T0 + i * 2500, "http")).stop is None
    assert policy.record(ok(T0 + 60_000)).state == "OK"
    assert abs(policy.error_rate - 24 / 120) < 1e-9


def test_transport_failures_do_not_count_as_error_rate() -> None:
    policy = HealthPolicy(T0, threshold_ms=10**9, window=4)
    for i in range(50):
        assert policy.record(fail(T0 + i)).stop is None
    assert policy.error_rate == 0


def test_ban_stops_at_once() -> None:
    policy = HealthPolicy(T0)
    assert policy.record(fail(T0 + 1, "banned")).stop is ReasonCode.BINANCE_BANNED


def test_notes_and_slow_probes_degrade_once() -> None:
    policy = HealthPolicy(T0, slow_latency_ms=100.0)
    policy.note("ws malformed: not JSON")
    assert policy.record(ok(T0)).state == "DEGRADED"
    assert policy.take_notes() == ["ws malformed: not JSON"]
    assert policy.record(ok(T0 + 1)).state == "OK"
    assert policy.record(ok(T0 + 2, latency=150.0)).state == "DEGRADED"


@given(st.lists(st.sampled_from(["ok", "transport", "http"]), min_size=1, max_size=300))
def test_stop_only_when_a_threshold_is_crossed(kinds: list[str]) -> None:
    """Property: the policy STOPs iff an outage reached the threshold or the error share exceeded it."""
    threshold, window, rate = 30_000, 20, 0.5
    policy = HealthPolicy(T0, threshold_ms=threshold, error_rate_threshold=rate, window=window)
    last_ok, errors, expected = T0, [], None
    for i, kind in enumerate(kinds, start=1):
        ts = T0 + i * 1000
        errors = ([*errors, kind == "http"])[-window:]
        if kind == "ok":
            last_ok = ts
        if expected is None and sum(errors) / window > rate:
            expected = ReasonCode.BINANCE_ERROR_RATE
        if expected is None and kind != "ok" and ts - last_ok >= threshold:
            expected = ReasonCode.BINANCE_UNREACHABLE
        assert policy.record(ProbeResult("/x", kind, ts, 1.0)).stop is expected  # type: ignore[arg-type]
