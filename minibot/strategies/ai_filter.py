"""How an AI recommendation may touch a signal: filter it out or weight its confidence, nothing else (R-P2).

Recommendations reach the strategy as journaled `ai_recommendation` events, so a replay sees exactly the same
ones in the same order. One is usable for a signal only when all hold:
- `strategy.use_ai` is on (the caller checks it);
- it is from a gated model: the payload says `"gated": true` (written by ai_role only for a snapshot that
  passed the test gate, R-I7; a missing flag counts as not gated, fail-closed) and, when
  `ai.allowed_models` is not empty, its `model_version` is listed there;
- it is fresh: signal ts - recommendation ts <= min(`ai.max_age_ms`, the recommendation's `horizon_ms`).
A usable one yields p_agree = its probability when its direction agrees with the signal side (UP/BUY,
DOWN/SELL), 1 - probability when it opposes, 0.5 for FLAT. p_agree < `ai.min_agree_probability` drops the
signal (filter); otherwise confidence becomes (1 - w) * confidence + w * p_agree with w = `ai.weight`.
The signal's side, score and the indicator reasons never change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.model.config import StrategyAiConfig

_AGREES = {("UP", "BUY"), ("DOWN", "SELL")}
_OPPOSES = {("UP", "SELL"), ("DOWN", "BUY")}


class AiGate:
    """Keeps the latest recommendation per symbol and applies it to signals."""

    __slots__ = ("allowed_models", "latest", "max_age_ms", "min_agree", "weight")

    def __init__(self, cfg: StrategyAiConfig) -> None:
        self.max_age_ms = cfg.max_age_ms
        self.min_agree = cfg.min_agree_probability
        self.weight = cfg.weight
        self.allowed_models = frozenset(cfg.allowed_models)
        self.latest: dict[str, tuple[int, str, Mapping[str, Any]]] = {}

    def observe(self, event: Mapping[str, Any]) -> None:
        """Remember an `ai_recommendation` envelope (the latest one per symbol wins)."""
        payload = event["payload"]
        self.latest[payload["symbol"]] = (int(event["ts"]), str(event["id"]), payload)

    def apply(self, symbol: str, side: str, ts: int, confidence: float) -> tuple[float | None, dict[str, Any]]:
        """(new confidence, or None when the signal is filtered out; the `reason.ai` record)."""
        held = self.latest.get(symbol)
        if held is None:
            return confidence, {"applied": False, "why": "none"}
        rec_ts, rec_id, rec = held
        age = max(0, ts - rec_ts)
        if rec.get("gated") is not True:
            return confidence, {"applied": False, "why": "not_gated", "rec_id": rec_id}
        model = str(rec.get("model_version", ""))
        if self.allowed_models and model not in self.allowed_models:
            return confidence, {"applied": False, "why": "model_not_allowed", "rec_id": rec_id}
        if age > min(self.max_age_ms, int(rec.get("horizon_ms", self.max_age_ms))):
            return confidence, {"applied": False, "why": "stale", "rec_id": rec_id, "age_ms": age}
        direction = rec.get("direction")
        prob = float(rec.get("probability", 0.5))
        if (direction, side) in _AGREES:
            p_agree = prob
        elif (direction, side) in _OPPOSES:
            p_agree = 1.0 - prob
        else:
            p_agree = 0.5
        record = {
            "applied": True,
            "rec_id": rec_id,
            "model_version": model,
            "direction": direction,
            "probability": prob,
            "age_ms": age,
            "p_agree": round(p_agree, 6),
        }
        if p_agree < self.min_agree:
            return None, {**record, "vetoed": True}
        new_conf = (1.0 - self.weight) * confidence + self.weight * p_agree
        return round(min(1.0, max(0.0, new_conf)), 6), record
