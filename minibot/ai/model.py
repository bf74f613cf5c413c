"""The model as plain weights: standardize, dot product, sigmoid. No pickle, nothing executable.

`PlainModel` is immutable, so the inference path and the training thread can share one safely. Its JSON
form (`to_json` / `from_json`) is what a snapshot stores; `from_json` checks every number is finite and
every vector has one entry per feature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from minibot.reasons import Refusal

MODEL_FORMAT = "nore.ai.plain_logistic"
MODEL_FORMAT_V = 1


class ModelInvalid(Refusal, ValueError):
    """model.json does not describe a usable model."""


def sigmoid(z: float) -> float:
    """Logistic function without overflow for large |z|."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class PlainModel:
    """P(up) = sigmoid(intercept + sum(coef * (x - mean) / scale))."""

    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    base_rate: float

    def p_up(self, x: Sequence[float]) -> float:
        """P(up) for one feature vector (plain Python: faster than numpy for ~10 features)."""
        z = self.intercept
        for xi, m, s, c in zip(x, self.mean, self.scale, self.coef, strict=True):
            z += c * (xi - m) / s
        return sigmoid(z)

    def p_up_batch(self, X: np.ndarray) -> np.ndarray:
        """P(up) for every row of X."""
        z = ((X - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef) + self.intercept
        # Same formula as sigmoid(), vectorized; clipping keeps exp() finite.
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0))), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        """The plain-weights document stored as a snapshot's model.json."""
        return {
            "format": MODEL_FORMAT,
            "v": MODEL_FORMAT_V,
            "feature_names": list(self.feature_names),
            "scaler_mean": list(self.mean),
            "scaler_scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "base_rate": self.base_rate,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PlainModel:
        """Parse and check a model.json document; raises `ModelInvalid`."""
        if doc.get("format") != MODEL_FORMAT or doc.get("v") != MODEL_FORMAT_V:
            raise ModelInvalid(f"unknown model format {doc.get('format')!r} v{doc.get('v')!r}")
        names = doc.get("feature_names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ModelInvalid("feature_names must be a non-empty list of strings")
        vectors = {}
        for key in ("scaler_mean", "scaler_scale", "coef"):
            vec = doc.get(key)
            if not isinstance(vec, list) or len(vec) != len(names):
                raise ModelInvalid(f"{key} must have one number per feature ({len(names)})")
            vectors[key] = tuple(_finite(v, key) for v in vec)
        if any(s <= 0.0 for s in vectors["scaler_scale"]):
            raise ModelInvalid("scaler_scale entries must be > 0")
        base_rate = _finite(doc.get("base_rate"), "base_rate")
        if not 0.0 < base_rate < 1.0:
            raise ModelInvalid("base_rate must be in (0, 1)")
        return cls(
            feature_names=tuple(names),
            mean=vectors["scaler_mean"],
            scale=vectors["scaler_scale"],
            coef=vectors["coef"],
            intercept=_finite(doc.get("intercept"), "intercept"),
            base_rate=base_rate,
        )


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelInvalid(f"{where}: {value!r} is not a finite number")
    return float(value)
