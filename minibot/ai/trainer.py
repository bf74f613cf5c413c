"""Training one candidate: standardize, then L2-regularized logistic regression by Newton's method (R-G4).

The model family is the one scikit-learn's `StandardScaler` + `SGDClassifier(log_loss, l2)` fitted before
(issue 14: scikit-learn and the scipy it imports cost ai_role ~94 MB of its ~133): `standardize` gives
StandardScaler's mean and population std, scale 1.0 for a (near-)constant feature; `fit_logistic` minimizes
mean log loss + alpha/2 * |coef|^2 (intercept not penalized), the objective of sklearn's SGDClassifier and
of LogisticRegression with C = 1 / (alpha * rows). The objective is strictly convex, so the fit is its one
minimum, reached by full-batch Newton steps (backtracking while far from it, quadratic convergence near
it): no shuffling, no seed and no learning rate, and the weights do not depend on row order beyond float
rounding. tests/ai/test_trainer.py checks it against scikit-learn's LogisticRegression.
The rolling window is split by time: the oldest `1 - holdout_fraction` trains, the most recent part is
held out for the test gate, so the gate scores the candidate on data it never saw.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from minibot.ai.model import PlainModel

# Newton decrement (grad . step, ~2x the distance to the optimum in loss) below which the next full step
# lands on the optimum to float precision: take it and stop.
CONVERGED_DECREMENT = 1e-12
# Halvings of a step tried before giving up on it (a step 2**-40 of Newton's decreases nothing measurable).
MAX_HALVINGS = 40


@dataclass(frozen=True, slots=True)
class TrainParams:
    """Trainer settings from the `ai.trainer` config section (`seed` is recorded, not used: no randomness)."""

    alpha: float
    epochs: int
    seed: int


class TrainingSkipped(Exception):
    """The window cannot train a model (too few rows or a single class); not an error."""


def split_holdout(n_rows: int, holdout_fraction: float) -> int:
    """Index of the first held-out row: the most recent `holdout_fraction` of the window is held out."""
    return n_rows - max(1, round(n_rows * holdout_fraction))


def standardize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (mean, scale) as scikit-learn's StandardScaler: population std, and 1.0 for a feature whose
    variance is within the rounding error of the two-pass variance (its `_is_constant_feature` bound)."""
    n = X.shape[0]
    mean = X.mean(axis=0)
    centered = X - mean
    # Two-pass variance with its rounding correction, summed in StandardScaler's order (same bits).
    var = (np.sum(centered**2, axis=0) - np.sum(centered, axis=0) ** 2 / n) / n
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    return mean, np.sqrt(var, out=np.ones_like(var), where=~constant)


def fit_logistic(Z: np.ndarray, y: np.ndarray, alpha: float, max_iter: int) -> tuple[np.ndarray, float]:
    """(coef, intercept) minimizing mean log loss + alpha/2 * |coef|^2 over rows Z, labels y in {0, 1}."""
    n, d = Z.shape
    A = np.hstack([Z, np.ones((n, 1))])
    penalty = np.append(np.full(d, alpha), 0.0)
    target = y.astype(np.float64)

    def objective(theta: np.ndarray) -> float:
        z = A @ theta
        return float(np.mean(np.logaddexp(0.0, z) - target * z) + 0.5 * np.dot(penalty * theta, theta))

    theta = np.zeros(d + 1)
    loss = objective(theta)
    for _ in range(max_iter):
        p = 0.5 * (1.0 + np.tanh(0.5 * (A @ theta)))  # the sigmoid, without exp() overflow
        grad = A.T @ (p - target) / n + penalty * theta
        hess = (A.T * (p * (1.0 - p))) @ A / n + np.diag(penalty)
        # lstsq, not solve: a saturated intercept (p exactly 0 or 1 in float) leaves the Hessian singular.
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        decrement = float(grad @ step)
        if decrement < CONVERGED_DECREMENT:
            theta = theta - step
            break
        for halving in range(MAX_HALVINGS):
            t = 0.5**halving
            moved = theta - t * step
            moved_loss = objective(moved)
            if moved_loss <= loss - 0.25 * t * decrement:  # Armijo: a real decrease, not float noise
                theta, loss = moved, moved_loss
                break
        else:
            break  # no step decreases the loss measurably: theta is the optimum to float precision
    return theta[:d], float(theta[d])


def train_model(X: np.ndarray, y: np.ndarray, feature_names: Sequence[str], params: TrainParams) -> PlainModel:
    """Standardize X, fit the logistic regression on (X, y) and return their weights."""
    classes = np.unique(y).tolist()
    if X.shape[0] == 0 or len(classes) < 2:
        raise TrainingSkipped(f"need both classes to train, got {X.shape[0]} rows of {classes}")
    if classes != [0, 1]:
        raise TrainingSkipped(f"unexpected classes {classes}")
    bad = int(np.size(X) - np.count_nonzero(np.isfinite(X)))
    if bad:  # a feature bug, not a quiet window: the engine journals the round as TRAINING_FAILED
        raise ValueError(f"{bad} non-finite feature values in the {X.shape[0]} training rows")
    mean, scale = standardize(X)
    coef, intercept = fit_logistic((X - mean) / scale, y, params.alpha, params.epochs)
    return PlainModel(
        feature_names=tuple(feature_names),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        coef=tuple(float(v) for v in coef),
        intercept=intercept,
        base_rate=float(np.clip(y.mean(), 1e-3, 1.0 - 1e-3)),
    )


def inference_latency_ms(model: PlainModel, X: np.ndarray, max_rows: int = 500) -> float:
    """p99 wall-clock milliseconds of one single-vector prediction, the path inference takes per tick."""
    rows = [tuple(float(v) for v in row) for row in X[:max_rows]]
    if not rows:
        return 0.0
    samples = []
    for row in rows:
        t0 = time.perf_counter()
        model.p_up(row)
        samples.append((time.perf_counter() - t0) * 1000.0)
    return float(np.percentile(samples, 99))
