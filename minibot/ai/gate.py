"""The local test gate and the rollback rule, as pure functions (R-I7).

Activation: a candidate is scored on the held-out (most recent) part of the training window, next to the
active model and a constant baseline (the training base rate of "up"). It is activated only when all hold:
1. its predictions are finite (`REJECT_NAN`) and the holdout has at least `min_holdout_rows` rows
   (`REJECT_HOLDOUT_TOO_SMALL`);
2. log loss <= baseline log loss * `max_log_loss_ratio` (`REJECT_WORSE_THAN_BASELINE`);
3. accuracy >= `min_accuracy` (`REJECT_ACCURACY`);
4. expected calibration error <= `max_ece` (`REJECT_CALIBRATION`);
5. p99 single-vector inference latency <= `max_inference_ms` (`REJECT_LATENCY`);
6. with an active model: log loss <= active log loss * `max_log_loss_vs_active` on the same rows
   (`REJECT_WORSE_THAN_ACTIVE`).
Rollback: once `window_rows` live predictions of the active model have been labelled, it is rolled back
when its live log loss exceeds the constant baseline's on those rows times `max_log_loss_ratio`, or its
live accuracy falls below `min_accuracy`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

_EPS = 1e-15
ECE_BINS = 10


@dataclass(frozen=True, slots=True)
class Scores:
    """How a set of probabilities did against labels."""

    rows: int
    log_loss: float
    accuracy: float
    ece: float
    finite: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, fields in order (non-finite values become None: JSON has no NaN)."""
        return _json_fields(self)


@dataclass(frozen=True, slots=True)
class GateThresholds:
    """The `ai.gate` config section (thresholds kept as written: the decision details quote them)."""

    min_holdout_rows: int
    max_log_loss_ratio: int | float
    max_log_loss_vs_active: int | float
    min_accuracy: int | float
    max_ece: int | float
    max_inference_ms: int | float


@dataclass(frozen=True, slots=True)
class RollbackBounds:
    """The `ai.rollback` config section."""

    window_rows: int
    max_log_loss_ratio: int | float
    min_accuracy: int | float


@dataclass(frozen=True, slots=True)
class Decision:
    """`ok` with a reason code and a human-readable detail carrying the numbers."""

    ok: bool
    reason: str
    detail: str


def score(p: np.ndarray, y: np.ndarray) -> Scores:
    """Log loss, accuracy at 0.5, and expected calibration error (10 equal-width bins) of P(up) = p."""
    n = int(y.shape[0])
    finite = bool(np.all(np.isfinite(p))) and n > 0
    if not finite:
        return Scores(n, math.nan, math.nan, math.nan, False)
    pc = np.clip(p, _EPS, 1.0 - _EPS)
    log_loss = float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1.0 - pc)))
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    bins = np.minimum((p * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    ece = 0.0
    for b in np.unique(bins):
        mask = bins == b
        ece += float(mask.mean()) * abs(float(p[mask].mean()) - float(y[mask].mean()))
    return Scores(n, log_loss, accuracy, ece, True)


def gate_decision(
    candidate: Scores,
    baseline: Scores,
    active: Scores | None,
    latency_p99_ms: float,
    th: GateThresholds,
) -> Decision:
    """Activate the candidate or reject it, with the first failing criterion as the reason."""
    if not candidate.finite or not math.isfinite(latency_p99_ms):
        return Decision(False, "REJECT_NAN", "candidate produced non-finite probabilities")
    if candidate.rows < th.min_holdout_rows:
        return Decision(False, "REJECT_HOLDOUT_TOO_SMALL", f"{candidate.rows} < {th.min_holdout_rows} rows")
    bound = baseline.log_loss * th.max_log_loss_ratio
    if not candidate.log_loss <= bound:
        return Decision(
            False,
            "REJECT_WORSE_THAN_BASELINE",
            f"log loss {candidate.log_loss:.6f} > {bound:.6f} (baseline {baseline.log_loss:.6f})",
        )
    if candidate.accuracy < th.min_accuracy:
        return Decision(False, "REJECT_ACCURACY", f"accuracy {candidate.accuracy:.4f} < {th.min_accuracy}")
    if candidate.ece > th.max_ece:
        return Decision(False, "REJECT_CALIBRATION", f"ECE {candidate.ece:.4f} > {th.max_ece}")
    if latency_p99_ms > th.max_inference_ms:
        return Decision(False, "REJECT_LATENCY", f"p99 {latency_p99_ms:.4f} ms > {th.max_inference_ms} ms")
    if active is not None and active.finite:
        bound = active.log_loss * th.max_log_loss_vs_active
        if not candidate.log_loss <= bound:
            return Decision(
                False,
                "REJECT_WORSE_THAN_ACTIVE",
                f"log loss {candidate.log_loss:.6f} > {bound:.6f} (active {active.log_loss:.6f})",
            )
    return Decision(
        True,
        "PASSED",
        f"log loss {candidate.log_loss:.6f} (baseline {baseline.log_loss:.6f}"
        + (f", active {active.log_loss:.6f}" if active is not None else "")
        + f"), accuracy {candidate.accuracy:.4f}, ECE {candidate.ece:.4f}, p99 {latency_p99_ms:.4f} ms",
    )


@dataclass(frozen=True, slots=True)
class LiveScore:
    """The active model's labelled live predictions, next to its constant baseline's on the same rows."""

    rows: int
    log_loss: float
    baseline_log_loss: float
    accuracy: float
    finite: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, fields in order (non-finite values become None)."""
        return _json_fields(self)


def rollback_decision(live: LiveScore, bounds: RollbackBounds) -> Decision:
    """Keep the active model (`ok`) or roll it back, judged on its labelled live predictions."""
    if live.rows < bounds.window_rows:
        return Decision(True, "KEEP_WARMING_UP", f"{live.rows} < {bounds.window_rows} live rows")
    if not live.finite:
        return Decision(False, "ROLLBACK_NAN", "live predictions were not finite")
    bound = live.baseline_log_loss * bounds.max_log_loss_ratio
    if not live.log_loss <= bound:
        return Decision(
            False,
            "ROLLBACK_LIVE_LOG_LOSS",
            f"live log loss {live.log_loss:.6f} > {bound:.6f} (baseline {live.baseline_log_loss:.6f})",
        )
    if live.accuracy < bounds.min_accuracy:
        return Decision(False, "ROLLBACK_LIVE_ACCURACY", f"live accuracy {live.accuracy:.4f} < {bounds.min_accuracy}")
    return Decision(True, "KEEP", f"live log loss {live.log_loss:.6f}, accuracy {live.accuracy:.4f}")


class LiveWindow:
    """The last `rows` labelled live predictions of the active model, with running sums.

    Checked after every label, so it keeps sums rather than re-scoring the whole window each time.
    """

    def __init__(self, rows: int, base_rate: float) -> None:
        self.size = rows
        self._base = (math.log(base_rate), math.log(1.0 - base_rate))
        self._items: deque[tuple[float, float, int, int]] = deque()
        self._ll = 0.0
        self._base_ll = 0.0
        self._correct = 0
        self._nonfinite = 0

    def add(self, p_up: float, label: int) -> None:
        """Record one live prediction once its label is known."""
        finite = math.isfinite(p_up)
        pc = min(max(p_up, _EPS), 1.0 - _EPS) if finite else 0.5
        item = (
            -math.log(pc if label else 1.0 - pc),
            -(self._base[0] if label else self._base[1]),
            int((p_up >= 0.5) == (label == 1)),
            int(not finite),
        )
        self._items.append(item)
        self._add(item, 1)
        if len(self._items) > self.size:
            self._add(self._items.popleft(), -1)

    def _add(self, item: tuple[float, float, int, int], sign: int) -> None:
        self._ll += sign * item[0]
        self._base_ll += sign * item[1]
        self._correct += sign * item[2]
        self._nonfinite += sign * item[3]

    def score(self) -> LiveScore:
        """Scores over the window (NaN while it is empty)."""
        n = len(self._items)
        if n == 0:
            return LiveScore(0, math.nan, math.nan, math.nan, True)
        return LiveScore(n, self._ll / n, self._base_ll / n, self._correct / n, self._nonfinite == 0)


def _json_num(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _json_fields(scores: Scores | LiveScore) -> dict[str, Any]:
    """Every field of `scores` by name; the counts and flags as they are, each figure through `_json_num`."""
    values = ((f.name, getattr(scores, f.name)) for f in fields(scores))
    return {name: v if isinstance(v, int) else _json_num(v) for name, v in values}
