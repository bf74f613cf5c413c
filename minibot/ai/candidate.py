"""One training round: train on the window, score on its held-out tail, gate, write the snapshot (R-I6, R-I7).

Runs in the engine's training thread. It reads only its arguments (an immutable window copy and the
active snapshot as it was when the round started) and writes only a new snapshot folder, so inference
keeps going meanwhile; activation is applied later, on the engine's thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minibot.ai.dataset import Window
from minibot.ai.gate import Decision, gate_decision, score
from minibot.ai.model import PlainModel
from minibot.ai.settings import AiSettings
from minibot.ai.snapshots import Snapshot, next_version, write_snapshot
from minibot.ai.trainer import inference_latency_ms, split_holdout, train_model


@dataclass(frozen=True, slots=True)
class Candidate:
    """A trained, scored and written snapshot with its gate decision."""

    version: str
    model: PlainModel
    decision: Decision
    metrics: dict[str, Any]
    parent_version: str | None
    training_s: float


def build_candidate(
    window: Window, active: Snapshot | None, settings: AiSettings, snapshot_root: Path, now_ms: int
) -> Candidate:
    """Train, score and gate a candidate on `window` and write it as the next snapshot."""
    t0 = time.perf_counter()
    cut = split_holdout(window.rows, settings.holdout_fraction)
    x_train, y_train = window.X[:cut], window.y[:cut]
    x_hold, y_hold = window.X[cut:], window.y[cut:]
    model = train_model(x_train, y_train, settings.features.names, settings.train_params)
    training_s = time.perf_counter() - t0

    cand = score(model.p_up_batch(x_hold), y_hold)
    baseline = score(np.full(y_hold.shape, model.base_rate), y_hold)
    active_scores = score(active.model.p_up_batch(x_hold), y_hold) if active is not None else None
    latency = inference_latency_ms(model, x_hold)
    decision = gate_decision(cand, baseline, active_scores, latency, settings.gate)
    metrics = {
        "candidate": cand.as_dict(),
        "baseline": baseline.as_dict(),
        "active": active_scores.as_dict() if active_scores is not None else None,
        "inference_p99_ms": latency,
        "training_s": training_s,
        "train_rows": int(cut),
        "holdout_rows": int(window.rows - cut),
    }
    parent = active.version if active is not None else None
    version = next_version(snapshot_root)
    write_snapshot(
        snapshot_root,
        version,
        model,
        {
            "created_ts": now_ms,
            "parent_version": parent,
            "training_window": {
                "start_ts": window.start_ts,
                "end_ts": window.end_ts,
                "rows": window.rows,
                "first_row_ts": int(window.ts[0]),
                "holdout_start_ts": int(window.ts[cut]),
                "last_row_ts": int(window.ts[-1]),
            },
            "dataset": {"version": window.dataset_version, "manifest_sha256": window.manifest_sha256},
            "trainer": {
                "kind": "standardize+logistic_l2(newton)",
                "alpha": settings.trainer.alpha,
                "epochs": settings.trainer.epochs,
                "seed": settings.seed,
            },
            "horizon_ms": settings.horizon_ms,
            "metrics": metrics,
            "gate": {"passed": decision.ok, "reason": decision.reason, "detail": decision.detail},
        },
    )
    return Candidate(version, model, decision, metrics, parent, training_s)
