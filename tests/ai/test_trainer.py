"""The numpy trainer against scikit-learn (issue 14: ai_role no longer imports it; only these tests do).

`standardize` must give StandardScaler's mean and scale, `fit_logistic` the optimum scikit-learn's
LogisticRegression finds for the same objective (C = 1 / (alpha * rows), lbfgs, tight tolerance), on real
recorded klines through the project's feature pipeline and on generated data.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.preprocessing import StandardScaler

from minibot.ai.dataset import DatasetStore, Window
from minibot.ai.engine import AiEngine
from minibot.ai.trainer import TrainingSkipped, TrainParams, fit_logistic, split_holdout, standardize, train_model
from tests.shared_data import REPO

from .aidata import KLINES_CFG, ai_cfg, kline_ticks, merged

COEF_TOL = 1e-4
SHIPPED = TrainParams(alpha=0.001, epochs=20, seed=20240808)


def _objective(Z: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float, alpha: float) -> float:
    """What both fits minimize: mean log loss + alpha/2 * |coef|^2."""
    z = Z @ coef + intercept
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * alpha * float(coef @ coef))


def _log_loss(Z: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float) -> float:
    z = Z @ coef + intercept
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _sklearn_fit(Z: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    lr = LogisticRegression(C=1.0 / (alpha * Z.shape[0]), solver="lbfgs", tol=1e-12, max_iter=100_000)
    lr.fit(Z, y)
    return lr.coef_[0], float(lr.intercept_[0])


@pytest.fixture(scope="module")
def kline_window(tmp_path_factory: pytest.TempPathFactory) -> Window:
    """Labelled feature rows of two symbols' recorded 1m klines, built by the engine's own pipeline."""
    ai_dir = tmp_path_factory.mktemp("ai")
    cfg = ai_cfg(KLINES_CFG)
    engine = AiEngine(cfg, ai_dir, lambda _e: None)
    last_ts = 0
    for event in merged(*(kline_ticks(s, 4000) for s in ("LINKUSDT", "LTCUSDT"))):
        engine.on_event(event)  # no maybe_train: only the dataset is wanted
        last_ts = event["ts"]
    engine.close()
    s = engine.settings
    return DatasetStore(ai_dir, s.features, s.horizon_ms, s.shard_rows, s.window_ms).window(last_ts)


def test_matches_sklearn_on_recorded_klines(kline_window: Window) -> None:
    w = kline_window
    assert w.rows > 1000 and np.unique(w.y).tolist() == [0, 1]
    cut = split_holdout(w.rows, 0.2)
    x_train, y_train, x_hold, y_hold = w.X[:cut], w.y[:cut], w.X[cut:], w.y[cut:]
    scaler = StandardScaler().fit(x_train)
    mean, scale = standardize(x_train)
    np.testing.assert_allclose(mean, scaler.mean_, rtol=1e-12, atol=0.0)
    np.testing.assert_allclose(scale, scaler.scale_, rtol=1e-12, atol=0.0)
    assert (scale == 1.0).sum() >= 2, "klines carry no book: spread and book imbalance are constant"
    z_train, z_hold = (x_train - mean) / scale, (x_hold - mean) / scale

    coef, intercept = fit_logistic(z_train, y_train, SHIPPED.alpha, SHIPPED.epochs)
    ref_coef, ref_intercept = _sklearn_fit(z_train, y_train, SHIPPED.alpha)
    np.testing.assert_allclose(coef, ref_coef, rtol=0.0, atol=COEF_TOL)
    assert abs(intercept - ref_intercept) <= COEF_TOL
    assert _log_loss(z_hold, y_hold, coef, intercept) <= _log_loss(z_hold, y_hold, ref_coef, ref_intercept) + 1e-9

    # The SGD fit the trainer replaces minimizes the same objective less exactly.
    sgd = SGDClassifier(loss="log_loss", penalty="l2", alpha=SHIPPED.alpha, max_iter=SHIPPED.epochs, tol=None)
    sgd.set_params(random_state=SHIPPED.seed, average=True).fit(z_train, y_train)
    ours = _objective(z_train, y_train, coef, intercept, SHIPPED.alpha)
    assert ours <= _objective(z_train, y_train, ref_coef, ref_intercept, SHIPPED.alpha) + 1e-12
    assert ours < _objective(z_train, y_train, sgd.coef_[0], float(sgd.intercept_[0]), SHIPPED.alpha)

    model = train_model(x_train, y_train, [f"f{i}" for i in range(w.X.shape[1])], SHIPPED)
    assert model.coef == tuple(float(c) for c in coef) and model.scale == tuple(float(v) for v in scale)
    np.testing.assert_allclose(model.p_up_batch(x_hold), 1.0 / (1.0 + np.exp(-(z_hold @ coef + intercept))))


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float]:
    """Rows with features of mixed scales and offsets (some constant), labels of both classes, an alpha."""
    n = draw(st.integers(20, 300))
    d = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scales = np.array(draw(st.lists(st.sampled_from([0.0, 1e-3, 1.0, 50.0, 1e4]), min_size=d, max_size=d)))
    X = rng.normal(size=(n, d)) * scales + rng.normal(scale=100.0, size=d)
    signal = draw(st.floats(0.0, 5.0))
    y = (signal * X @ rng.normal(size=d) / (1.0 + np.abs(X).max()) + rng.logistic(size=n) > 0).astype(np.int8)
    y[:2] = (0, 1)
    alpha = draw(st.sampled_from([1e-3, 1e-2, 0.1, 1.0, 10.0]))
    return X, y, alpha


@settings(max_examples=60, deadline=None)
@given(problems())
def test_matches_sklearn_on_generated_data(problem: tuple[np.ndarray, np.ndarray, float]) -> None:
    X, y, alpha = problem
    scaler = StandardScaler().fit(X)
    mean, scale = standardize(X)
    np.testing.assert_allclose(mean, scaler.mean_, rtol=1e-12, atol=0.0)
    np.testing.assert_array_equal(scale == 1.0, scaler.scale_ == 1.0)
    np.testing.assert_allclose(scale, scaler.scale_, rtol=1e-12, atol=0.0)
    Z = (X - mean) / scale
    coef, intercept = fit_logistic(Z, y, alpha, 20)
    ref_coef, ref_intercept = _sklearn_fit(Z, y, alpha)
    np.testing.assert_allclose(coef, ref_coef, rtol=0.0, atol=COEF_TOL)
    assert abs(intercept - ref_intercept) <= COEF_TOL
    assert _objective(Z, y, coef, intercept, alpha) <= _objective(Z, y, ref_coef, ref_intercept, alpha) + 1e-12


def test_fit_is_deterministic_and_ignores_row_order(kline_window: Window) -> None:
    X, y = kline_window.X, kline_window.y
    names = [f"f{i}" for i in range(X.shape[1])]
    first = train_model(X, y, names, SHIPPED)
    assert train_model(X, y, names, SHIPPED) == first
    assert train_model(X, y, names, TrainParams(SHIPPED.alpha, SHIPPED.epochs, seed=1)) == first
    order = np.random.default_rng(7).permutation(X.shape[0])
    shuffled = train_model(X[order], y[order], names, SHIPPED)
    np.testing.assert_allclose(shuffled.coef, first.coef, rtol=0.0, atol=1e-9)


def test_epochs_caps_the_newton_iterations(kline_window: Window) -> None:
    Z = (kline_window.X - standardize(kline_window.X)[0]) / standardize(kline_window.X)[1]
    one, _ = fit_logistic(Z, kline_window.y, SHIPPED.alpha, 1)
    converged, _ = fit_logistic(Z, kline_window.y, SHIPPED.alpha, SHIPPED.epochs)
    assert np.max(np.abs(one - converged)) > 1e-3
    assert np.array_equal(fit_logistic(Z, kline_window.y, SHIPPED.alpha, 1000)[0], converged)


def test_separable_data_with_a_tiny_alpha_stays_finite() -> None:
    X = np.linspace(-1.0, 1.0, 200).reshape(-1, 1)
    y = (X[:, 0] > 0).astype(np.int8)
    coef, intercept = fit_logistic(X, y, 1e-9, 20)
    assert np.all(np.isfinite(coef)) and np.isfinite(intercept) and coef[0] > 10.0


@pytest.mark.parametrize("labels", [[1, 1, 1], [], [0, 2, 2]])
def test_windows_without_both_classes_are_skipped(labels: list[int]) -> None:
    y = np.array(labels, dtype=np.int8)
    with pytest.raises(TrainingSkipped):
        train_model(np.ones((y.size, 2)), y, ["a", "b"], SHIPPED)


def test_non_finite_features_fail_the_round_with_a_clear_error() -> None:
    X = np.ones((10, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 non-finite feature values in the 10 training rows"):
        train_model(X, np.arange(10) % 2, ["a", "b"], SHIPPED)


@pytest.mark.process
def test_ai_role_imports_neither_sklearn_nor_scipy() -> None:
    probe = (
        "import pkgutil, sys, importlib, minibot.ai\n"
        "import minibot.roles.ai_role\n"
        "for m in pkgutil.iter_modules(minibot.ai.__path__): importlib.import_module('minibot.ai.' + m.name)\n"
        "loaded = sorted(n for n in sys.modules if n.split('.')[0] in ('sklearn', 'scipy'))\n"
        "print('minibot.ai.trainer' in sys.modules, loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True []"
