"""Features and labels: incremental = recomputed from scratch, event-time only, deterministic."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from minibot.ai.features import FeatureExtractor, FeatureSpec, feature_hash
from minibot.ai.labels import LabelQueue, Sample

from .aidata import trade_ticks

SPEC = FeatureSpec(return_windows_ms=(100, 300), volatility_window_ms=200, rsi_window_ms=200, flow_window_ms=150)


def _tick(ts_mid_qty: tuple[int, float, float], kind: str = "trade") -> dict[str, object]:
    _, mid, qty = ts_mid_qty
    return {
        "symbol": "BTCUSDT", "price": mid + 0.5, "bid": mid - 0.5, "ask": mid + 0.5,
        "bid_qty": 2.0, "ask_qty": 1.0, "kind": kind, "exchange_ts": None, "trade_id": None, "qty": qty,
    }  # fmt: skip


def _reference(rows: list[tuple[int, float, float]], i: int) -> tuple[float, ...]:
    """The features at row i, recomputed from the whole history (no incremental state)."""
    ts_now, mid_now, _ = rows[i]
    hist = rows[: i + 1]
    rets = []
    for w in SPEC.return_windows_ms:
        anchor = [m for t, m, _ in hist if t <= ts_now - w]
        rets.append(math.log(mid_now) - math.log(anchor[-1] if anchor else hist[0][1]))
    steps = [(t, math.log(m) - math.log(hist[j - 1][1]) if j else 0.0) for j, (t, m, _) in enumerate(hist)]
    vol = math.sqrt(sum(r * r for t, r in steps if t > ts_now - SPEC.volatility_window_ms))
    up = sum(max(r, 0) for t, r in steps if t > ts_now - SPEC.rsi_window_ms)
    down = sum(max(-r, 0) for t, r in steps if t > ts_now - SPEC.rsi_window_ms)
    rsi = 100 * up / (up + down) if up + down > 1e-15 else 50.0
    # every trade prints at the ask (quote rule: buyer-initiated), so flow imbalance is +1
    flow = 1.0 if any(t > ts_now - SPEC.flow_window_ms for t, _, _ in hist) else 0.0
    spread_bps = 1.0 / mid_now * 1e4
    return (*rets, vol, rsi, spread_bps, 1.0 / 3.0, flow)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.floats(100.0, 110.0), st.floats(0.001, 5.0)), min_size=1, max_size=60))
def test_incremental_features_equal_recomputation(steps: list[tuple[int, float, float]]) -> None:
    rows, ts = [], 0
    for dt, mid, qty in steps:
        ts += dt
        rows.append((ts, mid, qty))
    fx = FeatureExtractor(SPEC)
    for i, row in enumerate(rows):
        vec = fx.update(_tick(row), row[0])
        if row[0] - rows[0][0] < SPEC.warmup_ms:
            assert vec is None
            continue
        assert vec is not None and len(vec) == len(SPEC.names)
        ref = _reference(rows, i)
        for got, want, name in zip(vec, ref, SPEC.names, strict=True):
            assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9), (name, got, want)


def test_real_trades_give_finite_deterministic_features() -> None:
    def run() -> list[str]:
        fx = FeatureExtractor(SPEC)
        out = []
        for env in trade_ticks("ETHUSDT")[:3000]:
            vec = fx.update(env["payload"], env["ts"])
            if vec is not None:
                assert all(math.isfinite(v) for v in vec)
                out.append(feature_hash(vec))
        return out

    first = run()
    assert len(first) > 2000 and first == run()
    assert all(len(h) == 64 for h in first[:5])


def test_feature_hash_is_over_float64_le_bytes() -> None:
    import hashlib
    import struct

    vec = (1.0, -0.5, 3.25)
    assert feature_hash(vec) == hashlib.sha256(struct.pack("<3d", *vec)).hexdigest()
    assert feature_hash(vec) != feature_hash((1.0, -0.5, 3.2500000001))


def test_spec_hash_changes_with_windows() -> None:
    other = FeatureSpec((100, 301), 200, 200, 150)
    assert SPEC.spec_hash() != other.spec_hash() and SPEC.names != other.names


def _sample(ts: int, mid: float) -> Sample:
    return Sample(ts, "BTCUSDT", mid, (0.0,), "0" * 64, None, None)


def test_labels_resolve_after_the_horizon_by_event_time() -> None:
    q = LabelQueue(horizon_ms=1000, min_abs_return=0.0)
    q.push(_sample(0, 100.0))
    q.push(_sample(500, 100.0))
    assert q.resolve("BTCUSDT", 999, 101.0) == []
    rows = q.resolve("BTCUSDT", 1000, 101.0)
    assert [(r.sample.ts, r.label) for r in rows] == [(0, 1)]
    assert math.isclose(rows[0].fwd_ret, math.log(1.01))
    assert [(r.sample.ts, r.label) for r in q.resolve("BTCUSDT", 1500, 99.0)] == [(500, 0)]
    assert q.pending() == 0


def test_flat_and_stale_labels_are_dropped() -> None:
    q = LabelQueue(horizon_ms=1000, min_abs_return=1e-4)
    q.push(_sample(0, 100.0))
    assert q.resolve("BTCUSDT", 1200, 100.005) == [] and q.dropped_flat == 1
    q.push(_sample(2000, 100.0))
    assert q.resolve("BTCUSDT", 4001, 120.0) == [] and q.dropped_stale == 1
    q.push(_sample(5000, 100.0))
    assert q.resolve("ETHUSDT", 9000, 120.0) == [] and q.pending() == 1
