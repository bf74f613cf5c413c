"""Training one candidate: StandardScaler + SGD logistic regression, exported as plain weights (R-G4).

Deterministic given the rows and the seed: SGD shuffles with `random_state=seed` and runs a fixed number
of epochs (`tol=None`, so no early stop that depends on float noise and no ConvergenceWarning).
The rolling window is split by time: the oldest `1 - holdout_fraction` trains, the most recent part is
held out for the test gate, so the gate scores the candidate on data it never saw.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import StandardScaler

from minibot.ai.model import PlainModel


@dataclass(frozen=True, slots=True)
class TrainParams:
    """Trainer settings from the `ai.trainer` config section."""

    alpha: float
    epochs: int
    seed: int


class TrainingSkipped(Exception):
    """The window cannot train a model (too few rows or a single class); not an error."""


def split_holdout(n_rows: int, holdout_fraction: float) -> int:
    """Index of the first held-out row: the most recent `holdout_fraction` of the window is held out."""
    return n_rows - max(1, round(n_rows * holdout_fraction))


def train_model(X: np.ndarray, y: np.ndarray, feature_names: Sequence[str], params: TrainParams) -> PlainModel:
    """Fit the scaler and the classifier on (X, y) and return their weights."""
    if X.shape[0] == 0 or np.unique(y).size < 2:
        raise TrainingSkipped(f"need both classes to train, got {X.shape[0]} rows of {np.unique(y).tolist()}")
    scaler = StandardScaler().fit(X)
    clf = SGDClassifier(
        loss="log_loss",
        penalty="l2",
        alpha=params.alpha,
        max_iter=params.epochs,
        tol=None,
        shuffle=True,
        random_state=params.seed,
        average=True,
    )
    clf.fit(scaler.transform(X), y)
    if list(clf.classes_) != [0, 1]:
        raise TrainingSkipped(f"unexpected classes {clf.classes_.tolist()}")
    return PlainModel(
        feature_names=tuple(feature_names),
        mean=tuple(float(v) for v in scaler.mean_),
        scale=tuple(float(v) for v in scaler.scale_),
        coef=tuple(float(v) for v in clf.coef_[0]),
        intercept=float(clf.intercept_[0]),
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
