"""The `ai` config section as typed settings (validated beforehand by `ai.schema.json`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from minibot.ai.features import FeatureSpec
from minibot.ai.gate import GateThresholds, RollbackBounds
from minibot.ai.trainer import TrainParams
from minibot.sectionview import SectionView


@dataclass(frozen=True, slots=True)
class TrainerSettings:
    """The `ai.trainer` sub-section."""

    alpha: float
    epochs: int


@dataclass(frozen=True, slots=True)
class AiSettings(SectionView):
    """The `ai` section: everything the AI engine and its role read (the engine is handed the section alone:
    it builds this with `build_view(AiSettings, section)`)."""

    SECTION: ClassVar[str] = "ai"

    enabled: bool
    dir: str
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
    seed: int
    features: FeatureSpec
    trainer: TrainerSettings
    gate: GateThresholds
    rollback: RollbackBounds

    @property
    def train_params(self) -> TrainParams:
        """What the trainer takes: `ai.trainer` with the section's `seed`."""
        return TrainParams(self.trainer.alpha, self.trainer.epochs, self.seed)
