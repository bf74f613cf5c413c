"""AI benchmark: inference latency per tick and training time per snapshot (real Binance data).

Run: .venv/bin/python bench/bench_ai.py [--quick]
- Inference: an AiEngine with an activated model replays the BTCUSDT + ETHUSDT trade recordings (10 min,
  ~34k ticks); every `on_event` call is timed (features + labels + dataset + prediction + payload),
  reported as p50/p99/max microseconds, next to the bare `PlainModel.p_up` call.
- Training: labelled rows built from the 7 USD-M futures 1m kline files; one full training round
  (`build_candidate`: fit, score, gate, write the snapshot) is timed on windows the size of one hour of
  data at several densities. Median of 5 rounds each.
Wall-clock figures of this machine; the comparison of trading latency with and without AI needs the full
run and is not measured here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minibot.ai.candidate import build_candidate
from minibot.ai.dataset import Window
from minibot.ai.engine import AiEngine
from minibot.ai.features import FeatureExtractor, feature_hash, mid_price
from minibot.ai.labels import LabelQueue, Sample
from minibot.ai.settings import AiSettings
from minibot.sectionview import build_view
from tests.ai.aidata import KLINES_CFG, TRADES_CFG, ai_cfg, drive, kline_ticks, merged, trade_ticks

KLINE_SYMBOLS = ("ALGOUSDT", "AVAXUSDT", "DOTUSDT", "FILUSDT", "LINKUSDT", "LTCUSDT", "NEARUSDT")
LENIENT_GATE = {"max_log_loss_ratio": 2.0, "max_log_loss_vs_active": 2.0, "min_accuracy": 0.0, "max_ece": 1.0}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_inference(tmp: Path) -> dict[str, Any]:
    """Per-tick on_event latency with an active model."""
    ticks = list(merged(trade_ticks("BTCUSDT"), trade_ticks("ETHUSDT")))
    cfg = ai_cfg(TRADES_CFG, gate=LENIENT_GATE, rollback={"min_accuracy": 0.0, "max_log_loss_ratio": 2.0})
    engine = AiEngine(cfg, tmp / "warm", lambda _e: None)
    drive(engine, ticks[: len(ticks) // 2])  # trains and activates a model on the first half
    assert engine.ai_metrics()["active_version"], "no model activated"
    per_tick: list[float] = []
    recs = 0
    for env in ticks[len(ticks) // 2 :]:
        t0 = time.perf_counter()
        recs += len(engine.on_event(env))
        per_tick.append((time.perf_counter() - t0) * 1e6)
    assert engine.active is not None
    model = engine.active.model
    vec = tuple(0.1 * i for i in range(len(model.feature_names)))
    bare = []
    for _ in range(20000):
        t0 = time.perf_counter()
        model.p_up(vec)
        bare.append((time.perf_counter() - t0) * 1e6)
    return {
        "ticks": len(per_tick),
        "recommendations": recs,
        "on_event_us": {"p50": _pct(per_tick, 50), "p99": _pct(per_tick, 99), "max": max(per_tick)},
        "predict_us": {"p50": _pct(bare, 50), "p99": _pct(bare, 99)},
        "ticks_per_s": len(per_tick) / (sum(per_tick) / 1e6),
    }


def _kline_rows(settings: AiSettings, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fx = FeatureExtractor(settings.features)
    labels = LabelQueue(settings.horizon_ms, settings.label_min_abs_return)
    ts_out, x_out, y_out = [], [], []
    for env in merged(*(kline_ticks(s, limit) for s in KLINE_SYMBOLS)):
        payload, ts = env["payload"], env["ts"]
        mid = mid_price(payload)
        for row in labels.resolve(payload["symbol"], ts, mid):
            ts_out.append(row.sample.ts)
            x_out.append(row.sample.features)
            y_out.append(row.label)
        vec = fx.update(payload, ts)
        if vec is not None:
            labels.push(Sample(ts, payload["symbol"], mid, vec, feature_hash(vec), None, None))
    return np.array(ts_out), np.array(x_out, dtype=np.float64), np.array(y_out, dtype=np.int64)


def bench_training(tmp: Path, limit: int) -> dict[str, Any]:
    """Median wall time of one training round per window size."""
    settings = build_view(AiSettings, ai_cfg(KLINES_CFG))
    ts, X, y = _kline_rows(settings, limit)
    sizes = {
        "1h_of_1m_klines_7_symbols": 60 * len(KLINE_SYMBOLS),
        "1h_live_2_symbols_5s_sampling": 2 * 720,
        "1h_live_2_symbols_1s_sampling": 2 * 3600,
        "1h_live_10_symbols_1s_sampling": 10 * 3600,
    }
    out: dict[str, Any] = {"rows_available": int(y.size)}
    for name, rows in sizes.items():
        rows = min(rows, int(y.size))
        window = Window(ts[-rows:], X[-rows:], y[-rows:], int(ts[-rows]) - 1, int(ts[-1]), "bench", "0" * 64)
        times = []
        for i in range(5):
            root = tmp / f"snap-{name}-{i}"
            t0 = time.perf_counter()
            cand = build_candidate(window, None, settings, root, int(ts[-1]))
            times.append(time.perf_counter() - t0)
        out[name] = {
            "rows": rows,
            "round_s_median": statistics.median(times),
            "fit_s": cand.training_s,
            "gate": cand.decision.reason,
        }
    return out


def main() -> None:
    """Print the benchmark as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer kline rows (CI smoke)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result = {
            "inference": bench_inference(tmp),
            "training": bench_training(tmp, 8000 if args.quick else 40320),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
