"""The AI engine over real Binance data: gated snapshots, activation, recommendations, rollback, restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from minibot.ai.engine import AiEngine
from minibot.ai.snapshots import load_snapshot, scan
from minibot.journal.atomic import read_critical_json
from tests.shared_data import REPO

from .aidata import KLINES_CFG, TRADES_CFG, ai_cfg, drive, kline_ticks, merged, trade_ticks

REC_SCHEMA = json.loads((REPO / "minibot/contracts/schemas/ai_recommendation.schema.json").read_text())
EVENT_SCHEMA = json.loads((REPO / "minibot/contracts/schemas/ai_model_event.schema.json").read_text())
LENIENT_GATE = {"max_log_loss_ratio": 2.0, "max_log_loss_vs_active": 2.0, "min_accuracy": 0.0, "max_ece": 1.0}


def _run_trades(ai_dir: Path) -> tuple[AiEngine, list[dict[str, Any]], list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    engine = AiEngine(ai_cfg(TRADES_CFG), ai_dir, events.append)
    recs = drive(engine, merged(trade_ticks("BTCUSDT"), trade_ticks("ETHUSDT")))
    return engine, events, recs


@pytest.mark.slow  # trains models on a whole recording: not in `dev.py test --fast`
def test_real_trades_produce_gated_snapshots_with_manifests(tmp_path: Path) -> None:
    engine, events, _ = _run_trades(tmp_path / "ai")
    complete, incomplete = scan(engine.snapshot_root)
    assert complete and not incomplete
    names = engine.settings.features.names
    dataset_manifest = read_critical_json(
        tmp_path / "ai/datasets" / engine.ai_metrics()["dataset_version"] / "manifest.json"
    )
    for version in complete:
        snap = load_snapshot(engine.snapshot_root, version, names)  # every file verified against its hash
        m = snap.manifest
        assert m["gate"]["reason"] and isinstance(m["gate"]["passed"], bool)
        assert m["dataset"]["version"] == dataset_manifest["version"] and len(m["dataset"]["manifest_sha256"]) == 64
        assert m["training_window"]["rows"] >= engine.settings.min_rows
        assert m["training_window"]["holdout_start_ts"] <= m["training_window"]["last_row_ts"]
        assert {"candidate", "baseline", "inference_p99_ms", "training_s"} <= set(m["metrics"])
        assert m["trainer"]["seed"] == engine.settings.seed
    for e in events:
        jsonschema.validate(e, EVENT_SCHEMA)
    decided = [e for e in events if e["action"] in ("ACTIVATED", "REJECTED")]
    assert len(decided) == len(complete) and all(":" in e["reason"] for e in decided)
    metrics = engine.ai_metrics()
    assert metrics["snapshots_trained"] == len(complete)
    assert metrics["snapshots_activated"] + metrics["snapshots_rejected"] == len(complete)
    assert metrics["dataset_rows"] > 1000 and metrics["last_training_s"] is not None


@pytest.mark.slow  # trains models on a whole recording: not in `dev.py test --fast`
def test_training_is_reproducible(tmp_path: Path) -> None:
    a, _, _ = _run_trades(tmp_path / "a")
    b, _, _ = _run_trades(tmp_path / "b")
    versions = scan(a.snapshot_root)[0]
    assert versions == scan(b.snapshot_root)[0]
    for v in versions:
        assert (a.snapshot_root / v / "model.json").read_bytes() == (b.snapshot_root / v / "model.json").read_bytes()


@pytest.mark.slow  # trains models on a whole recording: not in `dev.py test --fast`
def test_activation_recommendations_rollback_and_restart(tmp_path: Path) -> None:
    ai_dir = tmp_path / "ai"
    ticks = list(merged(*(kline_ticks(s, 4000) for s in ("LINKUSDT", "LTCUSDT", "DOTUSDT"))))
    events: list[dict[str, Any]] = []
    cfg = ai_cfg(KLINES_CFG, gate=LENIENT_GATE, rollback={"window_rows": 50, "min_accuracy": 0.9})
    engine = AiEngine(cfg, ai_dir, events.append)
    recs = drive(engine, ticks)
    actions = [e["action"] for e in events]
    assert "ACTIVATED" in actions and "ROLLED_BACK" in actions
    assert recs, "an activated model recommends"
    for rec in recs[:200]:
        jsonschema.validate(rec, REC_SCHEMA)
        assert rec["gated"] is True and rec["direction"] in ("UP", "DOWN", "FLAT")
    activated = {e["version"] for e in events if e["action"] == "ACTIVATED"}
    assert {r["model_version"] for r in recs} <= activated
    rollback = next(e for e in events if e["action"] == "ROLLED_BACK")
    assert rollback["reason"].startswith("ROLLBACK_LIVE_ACCURACY") and rollback["metrics"]["live"]["rows"] == 50
    m = engine.ai_metrics()
    assert m["snapshots_rolled_back"] == actions.count("ROLLED_BACK") >= 1

    # Restart on the same folder: the pointer and the dataset come back, verified.
    pointer = read_critical_json(ai_dir / "active.json")
    again = AiEngine(cfg, ai_dir, events.append)
    assert again.ai_metrics()["active_version"] == pointer["version"]
    assert again.ai_metrics()["dataset_rows"] == m["dataset_rows"]


def test_tampered_active_snapshot_is_refused_at_start_and_rolled_back(tmp_path: Path) -> None:
    ai_dir = tmp_path / "ai"
    ticks = list(merged(*(kline_ticks(s, 4000) for s in ("LINKUSDT", "LTCUSDT"))))
    cfg = ai_cfg(KLINES_CFG, gate=LENIENT_GATE, rollback={"min_accuracy": 0.0, "max_log_loss_ratio": 2.0})
    drive(AiEngine(cfg, ai_dir, lambda _e: None), ticks)
    pointer = read_critical_json(ai_dir / "active.json")
    assert pointer["version"] and pointer["previous"], "two activations expected"
    model = ai_dir / "snapshots" / pointer["version"] / "model.json"
    doc = orjson.loads(model.read_bytes())
    doc["intercept"] += 1.0
    model.write_bytes(orjson.dumps(doc))

    events: list[dict[str, Any]] = []
    engine = AiEngine(cfg, ai_dir, events.append)
    assert [e["action"] for e in events] == ["REFUSED_LOAD", "ROLLED_BACK"]
    assert engine.ai_metrics()["active_version"] == pointer["previous"][-1]
    assert read_critical_json(ai_dir / "active.json")["version"] == pointer["previous"][-1]
