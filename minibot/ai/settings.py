"""The `ai` config section as typed settings (validated beforehand by `ai.schema.json`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minibot.ai.features import FeatureSpec
from minibot.ai.gate import GateThresholds, RollbackBounds
from minibot.ai.trainer import TrainParams


@dataclass(frozen=True, slots=True)
class AiSettings:
    """Everything the AI engine reads from its config section."""

    retrain_interval_ms: int
    window_ms: int
    holdout_fraction: float
    horizon_ms: int
    label_min_abs_return: float
    sample_interval_ms: int
    recommend_interval_ms: int
    recommend_threshold: float
    min_rows: int
    shard_rows: int
    max_history: int
    features: FeatureSpec
    trainer: TrainParams
    gate: GateThresholds
    rollback: RollbackBounds

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> AiSettings:
        """Build from a validated `ai` section (the loader fails closed on anything missing)."""
        return cls(
            retrain_interval_ms=int(cfg["retrain_interval_ms"]),
            window_ms=int(cfg["window_ms"]),
            holdout_fraction=float(cfg["holdout_fraction"]),
            horizon_ms=int(cfg["horizon_ms"]),
            label_min_abs_return=float(cfg["label_min_abs_return"]),
            sample_interval_ms=int(cfg["sample_interval_ms"]),
            recommend_interval_ms=int(cfg["recommend_interval_ms"]),
            recommend_threshold=float(cfg["recommend_threshold"]),
            min_rows=int(cfg["min_rows"]),
            shard_rows=int(cfg["shard_rows"]),
            max_history=int(cfg["max_history"]),
            features=FeatureSpec.from_config(cfg["features"]),
            trainer=TrainParams(
                alpha=float(cfg["trainer"]["alpha"]),
                epochs=int(cfg["trainer"]["epochs"]),
                seed=int(cfg["seed"]),
            ),
            gate=GateThresholds.from_config(cfg["gate"]),
            rollback=RollbackBounds.from_config(cfg["rollback"]),
        )
