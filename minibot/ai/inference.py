"""Turning a prediction into an `ai_recommendation` payload (R-I4). Pure.

`direction` is UP when P(up) >= 0.5 + threshold, DOWN when P(up) <= 0.5 - threshold, FLAT otherwise.
`probability` is the model's probability of the direction it names: P(up) for UP, 1 - P(up) for DOWN,
and for FLAT the probability of the likelier side (below 0.5 + threshold by construction). `p_up` (an
extra payload field, allowed by the contract) carries P(up) itself. A recommendation is a hypothesis the
strategy may weigh; it is never an order (R-P2).
"""

from __future__ import annotations

from typing import Any


def direction_for(p_up: float, threshold: float) -> str:
    """UP / DOWN / FLAT for P(up) and the recommendation threshold."""
    if p_up >= 0.5 + threshold:
        return "UP"
    if p_up <= 0.5 - threshold:
        return "DOWN"
    return "FLAT"


def recommendation(
    *,
    symbol: str,
    p_up: float,
    threshold: float,
    model_version: str,
    feature_hash: str,
    horizon_ms: int,
    cause_id: str,
) -> dict[str, Any]:
    """The `ai_recommendation` payload for one prediction."""
    direction = direction_for(p_up, threshold)
    if direction == "UP":
        probability = p_up
    elif direction == "DOWN":
        probability = 1.0 - p_up
    else:
        probability = max(p_up, 1.0 - p_up)
    return {
        "symbol": symbol,
        "direction": direction,
        "probability": probability,
        "p_up": p_up,
        "model_version": model_version,
        "feature_hash": feature_hash,
        "horizon_ms": horizon_ms,
        "cause_id": cause_id,
    }
