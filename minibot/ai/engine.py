"""The AI engine the ai_role runner drives (R-G3, R-G4, R-I1..I7).

Runner contract:
- `AiEngine(cfg, ai_dir, emit_model_event)`: `cfg` is the validated `ai` config section, `ai_dir` the
  run's AI artifact folder (`<run>/<ai.dir>`), `emit_model_event(payload)` journals one
  `ai_model_event` payload (action TRAINED / ACTIVATED / REJECTED / ROLLED_BACK / REFUSED_LOAD).
  Construction loads `active.json` and the dataset, verifying every hash.
- `on_event(envelope) -> list[payload]`: feed every decoded envelope from the AI's readable queues
  (`market_tick`, `fill`); returns the `ai_recommendation` payloads to append to `ai_recommendations`.
  Any other event type raises `AiIsolationBreach` (the queue layer should have refused it already).
- `maybe_train(now_ms)`: call periodically with the run clock; every `retrain_interval_ms` it starts one
  training round in a background thread. Its result is applied at the next `on_event` / `maybe_train` /
  `wait_training` call, on the caller's thread, so the model never changes in the middle of an event.
- `wait_training()`, `close()`, `ai_metrics()`, `active`.
Everything is single-threaded from the runner's point of view except the training round itself.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from minibot.ai.candidate import Candidate, build_candidate
from minibot.ai.dataset import DatasetStore, Window
from minibot.ai.features import FeatureExtractor, feature_hash, mid_price
from minibot.ai.gate import Decision, LiveWindow, rollback_decision
from minibot.ai.inference import recommendation
from minibot.ai.labels import LabeledRow, LabelQueue, Sample
from minibot.ai.registry import Registry
from minibot.ai.settings import AiSettings
from minibot.ai.snapshots import Snapshot, SnapshotRefused, load_snapshot, scan
from minibot.ai.trainer import TrainingSkipped
from minibot.reasons import NoreError, ReasonCode
from minibot.runlayout import AI_SNAPSHOTS_DIR
from minibot.sectionview import build_view

INPUT_TYPES = frozenset({"market_tick", "fill"})
_NEVER = -(2**62)
ModelEventSink = Callable[[dict[str, Any]], None]


class AiIsolationBreach(NoreError):
    """The AI was handed an event from a queue it may not read."""

    reason_code = ReasonCode.AI_ISOLATION_BREACH


class AiEngine:
    """Features -> dataset -> continuous training behind a test gate -> recommendations."""

    def __init__(self, cfg: Mapping[str, Any], ai_dir: Path | str, emit_model_event: ModelEventSink) -> None:
        self.settings = s = build_view(AiSettings, cfg)
        self.ai_dir = Path(ai_dir)
        self.ai_dir.mkdir(parents=True, exist_ok=True)
        self._emit = emit_model_event
        self._features = FeatureExtractor(s.features)
        self._labels = LabelQueue(s.horizon_ms, s.label_min_abs_return)
        self._dataset = DatasetStore(self.ai_dir, s.features, s.horizon_ms, s.shard_rows, s.window_ms)
        self._registry = Registry(self.ai_dir, s.max_history)
        self.snapshot_root = self.ai_dir / AI_SNAPSHOTS_DIR
        self._active: Snapshot | None = None
        self._live: LiveWindow | None = None
        self._last_sample: dict[str, int] = {}
        self._last_rec: dict[str, int] = {}
        self._last_train_ms: int | None = None
        self._thread: threading.Thread | None = None
        self._result: tuple[int, Candidate | BaseException] | None = None
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(
            (
                "ticks",
                "ticks_refused",
                "other_events",
                "recommendations",
                "snapshots_trained",
                "snapshots_activated",
                "snapshots_rejected",
                "snapshots_rolled_back",
                "snapshots_refused",
                "trainings_skipped",
                "trainings_failed",
            ),
            0,
        )
        self.last_training_s: float | None = None
        self._load_active_at_start()

    # -- events -----------------------------------------------------------------------------------------

    def on_event(self, envelope: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Fold one event in; the `ai_recommendation` payloads it causes."""
        self._apply_result()
        etype = envelope.get("type")
        if etype not in INPUT_TYPES:
            raise AiIsolationBreach(f"ai_role got a {etype!r} event; it reads {sorted(INPUT_TYPES)} only")
        if etype != "market_tick":
            self.counts["other_events"] += 1
            return []
        payload = envelope["payload"]
        ts = int(envelope["ts"])
        mid = mid_price(payload)
        if not (math.isfinite(mid) and mid > 0.0):
            self.counts["ticks_refused"] += 1
            return []
        self.counts["ticks"] += 1
        symbol = payload["symbol"]
        for row in self._labels.resolve(symbol, ts, mid):
            self._on_labeled(row, ts)
        vec = self._features.update(payload, ts)
        if vec is None or not all(math.isfinite(v) for v in vec):
            return []
        active = self._active
        cfg = self.settings
        sample_due = ts - self._last_sample.get(symbol, _NEVER) >= cfg.sample_interval_ms
        rec_due = active is not None and ts - self._last_rec.get(symbol, _NEVER) >= cfg.recommend_interval_ms
        if not (sample_due or rec_due):
            return []
        fhash = feature_hash(vec)
        p_up = active.model.p_up(vec) if active is not None else None
        version = active.version if active is not None else None
        if sample_due:
            self._last_sample[symbol] = ts
            self._labels.push(Sample(ts, symbol, mid, vec, fhash, p_up, version))
        if not rec_due or p_up is None or version is None:
            return []
        self._last_rec[symbol] = ts
        self.counts["recommendations"] += 1
        rec = recommendation(
            symbol=symbol,
            p_up=p_up,
            threshold=self.settings.recommend_threshold,
            model_version=version,
            feature_hash=fhash,
            horizon_ms=self.settings.horizon_ms,
            cause_id=str(envelope["id"]),
        )
        # Only an activated snapshot (one that passed the test gate) ever predicts here.
        rec["gated"] = True
        return [rec]

    def _on_labeled(self, row: LabeledRow, ts: int) -> None:
        self._dataset.add(row)
        active = self._active
        if active is None or self._live is None or row.sample.model_version != active.version:
            return
        assert row.sample.p_up is not None  # a versioned sample always carries its prediction
        self._live.add(row.sample.p_up, row.label)
        live = self._live.score()
        decision = rollback_decision(live, self.settings.rollback)
        if not decision.ok:
            self._rollback(ts, decision, {"live": live.as_dict()})

    # -- model lifecycle --------------------------------------------------------------------------------

    def _load_active_at_start(self) -> None:
        pointer = self._registry.read()
        if pointer.version is None:
            return
        snap = self._try_load(pointer.version)
        if snap is not None:
            self._set_active(snap)
            return
        refused = Decision(False, "ROLLBACK_REFUSED_LOAD", f"active snapshot {pointer.version} refused")
        self._rollback(pointer.updated_ts, refused, {})

    def _try_load(self, version: str) -> Snapshot | None:
        try:
            return load_snapshot(self.snapshot_root, version, self.settings.features.names)
        except SnapshotRefused as exc:
            self.counts["snapshots_refused"] += 1
            self._emit({"action": "REFUSED_LOAD", "version": version, "reason": exc.detail})
            return None

    def _set_active(self, snap: Snapshot | None) -> None:
        self._active = snap
        self._live = LiveWindow(self.settings.rollback.window_rows, snap.model.base_rate) if snap else None

    def _rollback(self, ts: int, decision: Decision, metrics: dict[str, Any]) -> None:
        old = self._active.version if self._active is not None else self._registry.read().version
        loaded: dict[str, Snapshot] = {}

        def loadable(version: str) -> bool:
            snap = self._try_load(version)
            if snap is not None:
                loaded[version] = snap
            return snap is not None

        pointer = self._registry.rollback(ts, f"{decision.reason}: {decision.detail}", loadable)
        self._set_active(loaded.get(pointer.version) if pointer.version else None)
        self.counts["snapshots_rolled_back"] += 1
        self._emit(
            {
                "action": "ROLLED_BACK",
                "version": old or "none",
                "to_version": pointer.version,
                "reason": f"{decision.reason}: {decision.detail}",
                "metrics": metrics,
            }
        )

    def maybe_train(self, now_ms: int) -> bool:
        """Start a training round if one is due and none is running; True when one was started."""
        self._apply_result()
        if self._thread is not None:
            return False
        last = self._last_train_ms
        if last is not None and now_ms - last < self.settings.retrain_interval_ms:
            return False
        self._last_train_ms = now_ms
        window = self._dataset.window(now_ms)
        if window.rows < self.settings.min_rows:
            self.counts["trainings_skipped"] += 1
            return False
        self._thread = threading.Thread(
            target=self._train, args=(window, self._active, now_ms), name="ai-trainer", daemon=True
        )
        self._thread.start()
        return True

    def _train(self, window: Window, active: Snapshot | None, now_ms: int) -> None:
        result: Candidate | BaseException
        try:
            result = build_candidate(window, active, self.settings, self.snapshot_root, now_ms)
        except BaseException as exc:  # handed to the engine's thread, which journals or re-raises it
            result = exc
        with self._lock:
            self._result = (now_ms, result)

    def wait_training(self, timeout_s: float | None = None) -> None:
        """Block until a running round is done (or `timeout_s` passes), then apply its result."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._apply_result()

    def close(self) -> None:
        """Finish a running round and flush buffered dataset rows."""
        self.wait_training()
        self._dataset.flush()

    def _apply_result(self) -> None:
        with self._lock:
            done, self._result = self._result, None
        if done is None:
            return
        assert self._thread is not None
        self._thread.join()
        self._thread = None
        now_ms, result = done
        if isinstance(result, TrainingSkipped):
            self.counts["trainings_skipped"] += 1
            return
        if isinstance(result, Exception):
            self.counts["trainings_failed"] += 1
            self._emit({"action": "REJECTED", "version": "none", "reason": f"TRAINING_FAILED: {result!r}"})
            return
        if not isinstance(result, Candidate):
            raise result  # KeyboardInterrupt / SystemExit in the thread: let the runner see it
        self._on_candidate(now_ms, result)

    def _on_candidate(self, now_ms: int, cand: Candidate) -> None:
        self.counts["snapshots_trained"] += 1
        self.last_training_s = cand.training_s
        base = {"version": cand.version, "parent_version": cand.parent_version, "metrics": cand.metrics}
        self._emit({**base, "action": "TRAINED", "reason": "candidate written"})
        why = f"{cand.decision.reason}: {cand.decision.detail}"
        if not cand.decision.ok:
            self.counts["snapshots_rejected"] += 1
            self._emit({**base, "action": "REJECTED", "reason": why})
            return
        snap = self._try_load(cand.version)  # activate what is on disk, verified, not what is in memory
        if snap is None:
            self.counts["snapshots_rejected"] += 1
            return
        self._registry.activate(cand.version, now_ms, why)
        self._set_active(snap)
        self.counts["snapshots_activated"] += 1
        self._emit({**base, "action": "ACTIVATED", "reason": why})

    # -- metrics ----------------------------------------------------------------------------------------

    @property
    def active(self) -> Snapshot | None:
        """The active (verified, gate-passing) snapshot, or None."""
        return self._active

    def ai_metrics(self) -> dict[str, Any]:
        """The AI block of metrics.json."""
        live_acc = live_ll = None
        live_rows = 0
        if self._live is not None:
            live = self._live.score()
            live_rows = live.rows
            if live.rows:
                live_acc, live_ll = live.accuracy, live.log_loss
        complete, incomplete = scan(self.snapshot_root)
        return {
            **self.counts,
            "active_version": self._active.version if self._active is not None else None,
            "live_rows": live_rows,
            "live_accuracy": live_acc,
            "live_log_loss": live_ll,
            "dataset_version": self._dataset.version,
            "dataset_rows": self._dataset.rows,
            "labels_pending": self._labels.pending(),
            "labels_dropped_flat": self._labels.dropped_flat,
            "labels_dropped_stale": self._labels.dropped_stale,
            "last_training_s": self.last_training_s,
            "snapshots_on_disk": len(complete),
            "snapshots_incomplete": len(incomplete),
            "training_running": self._thread is not None,
        }
