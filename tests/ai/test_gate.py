"""The test gate and the rollback rule as pure functions (R-I7)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minibot.ai.gate import GateThresholds, LiveWindow, RollbackBounds, gate_decision, rollback_decision, score

TH = GateThresholds(
    min_holdout_rows=100,
    max_log_loss_ratio=1.0,
    max_log_loss_vs_active=1.0,
    min_accuracy=0.5,
    max_ece=0.1,
    max_inference_ms=2.0,
)
BOUNDS = RollbackBounds(window_rows=200, max_log_loss_ratio=1.05, min_accuracy=0.45)


def _labels(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from a known P(up) per row, so a model that reports that P(up) is calibrated."""
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(0.1, 0.9, n)
    return p_true, (rng.uniform(size=n) < p_true).astype(np.int64)


def test_score_matches_definitions() -> None:
    p = np.array([0.9, 0.2, 0.6, 0.4])
    y = np.array([1, 0, 0, 1])
    s = score(p, y)
    expected_ll = -np.mean([math.log(0.9), math.log(0.8), math.log(0.4), math.log(0.4)])
    assert s.log_loss == pytest.approx(expected_ll)
    assert s.accuracy == 0.5
    # bins: 0.9 -> bin 9 (y=1), 0.2 -> bin 2 (y=0), 0.6 -> bin 6 (y=0), 0.4 -> bin 4 (y=1)
    assert s.ece == pytest.approx(0.25 * (0.1 + 0.2 + 0.6 + 0.6))
    assert s.finite and s.rows == 4


def test_better_candidate_is_activated_worse_one_rejected() -> None:
    p_true, y = _labels(2000)
    baseline = score(np.full(y.shape, y.mean()), y)
    good = score(p_true, y)
    noisy = score(np.clip(p_true + np.random.default_rng(2).normal(0, 0.3, y.size), 0.01, 0.99), y)
    assert gate_decision(good, baseline, None, 0.01, TH).ok
    assert gate_decision(good, baseline, noisy, 0.01, TH).ok
    rejected = gate_decision(noisy, baseline, good, 0.01, TH)
    assert not rejected.ok and rejected.reason == "REJECT_WORSE_THAN_BASELINE"
    # Better than the baseline but worse than the active model: kept out.
    slightly_worse = score(np.clip(0.5 + (p_true - 0.5) * 0.7, 0.01, 0.99), y)
    assert gate_decision(slightly_worse, baseline, None, 0.01, TH).ok
    d = gate_decision(slightly_worse, baseline, good, 0.01, TH)
    assert not d.ok and d.reason == "REJECT_WORSE_THAN_ACTIVE" and "active" in d.detail


def test_each_criterion_has_its_reason() -> None:
    p_true, y = _labels(2000)
    baseline = score(np.full(y.shape, y.mean()), y)
    good = score(p_true, y)
    nan = score(np.where(np.arange(y.size) == 3, np.nan, p_true), y)
    assert gate_decision(nan, baseline, None, 0.01, TH).reason == "REJECT_NAN"
    assert gate_decision(good, baseline, None, math.nan, TH).reason == "REJECT_NAN"
    small = score(p_true[:50], y[:50])
    assert gate_decision(small, baseline, None, 0.01, TH).reason == "REJECT_HOLDOUT_TOO_SMALL"
    assert gate_decision(good, baseline, None, 5.0, TH).reason == "REJECT_LATENCY"
    # Overconfident in the right direction: accurate but badly calibrated.
    sharp = score(np.where(p_true > 0.5, 0.999, 0.001), y)
    loose = GateThresholds(100, 100.0, 1.0, 0.5, 0.1, 2.0)
    assert gate_decision(sharp, baseline, None, 0.01, loose).reason == "REJECT_CALIBRATION"
    inverted = score(1.0 - p_true, y)
    assert gate_decision(inverted, baseline, None, 0.01, loose).reason == "REJECT_ACCURACY"


def test_rollback_when_the_live_score_degrades() -> None:
    p_true, y = _labels(400, seed=5)
    live = LiveWindow(BOUNDS.window_rows, base_rate=0.5)
    for p, label in zip(p_true[:150], y[:150], strict=True):
        live.add(float(p), int(label))
    assert rollback_decision(live.score(), BOUNDS).reason == "KEEP_WARMING_UP"
    for p, label in zip(p_true[150:], y[150:], strict=True):
        live.add(float(p), int(label))
    keep = rollback_decision(live.score(), BOUNDS)
    assert keep.ok and keep.reason == "KEEP"
    # The market turns: the same model is now confidently wrong.
    for p, label in zip(p_true[:200], y[:200], strict=True):
        live.add(float(p), 1 - int(label))
    d = rollback_decision(live.score(), BOUNDS)
    assert not d.ok and d.reason == "ROLLBACK_LIVE_LOG_LOSS"


def test_rollback_on_accuracy_alone() -> None:
    bounds = RollbackBounds(window_rows=100, max_log_loss_ratio=2.0, min_accuracy=0.6)
    live = LiveWindow(100, base_rate=0.5)
    for i in range(100):
        live.add(0.55, i % 2)  # barely confident, right half the time
    d = rollback_decision(live.score(), bounds)
    assert not d.ok and d.reason == "ROLLBACK_LIVE_ACCURACY"


def test_live_window_running_sums_equal_batch_scores() -> None:
    p_true, y = _labels(700, seed=9)
    live = LiveWindow(250, base_rate=0.4)
    for p, label in zip(p_true, y, strict=True):
        live.add(float(p), int(label))
    got = live.score()
    want = score(p_true[-250:], y[-250:])
    base = score(np.full(250, 0.4), y[-250:])
    assert got.rows == 250 and got.finite
    assert got.log_loss == pytest.approx(want.log_loss) and got.accuracy == pytest.approx(want.accuracy)
    assert got.baseline_log_loss == pytest.approx(base.log_loss)
    live.add(math.nan, 1)
    assert not live.score().finite and rollback_decision(live.score(), BOUNDS).reason == "ROLLBACK_NAN"
