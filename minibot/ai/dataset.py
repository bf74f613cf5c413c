"""The versioned training dataset: shards of labelled rows plus a sha256 manifest (R-I5, R-I6).

Layout: `<ai_dir>/datasets/<version>/shard-NNNNN.npy` + `manifest.json`.
- `<version>` = `ds<format>-<first 12 hex of the feature spec hash>-h<horizon_ms>`: rows with different
  features or horizons never share a dataset.
- A shard is one `.npy` file holding a structured array (`ROW_FIELDS`), written by `np.save` with
  `allow_pickle=False` and read back the same way: no pickle. `.npy` rather than `.npz` because a zip
  member carries its write time, so identical rows would hash differently from run to run.
- `manifest.json` is a critical JSON file (own sha256) listing every shard with its sha256, row count and
  time range. The shard is written first, the manifest last: a shard the manifest does not list is an
  interrupted write and is overwritten by the next shard of that number.
Loading verifies the manifest and every shard hash; any mismatch raises `DatasetCorrupt`.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minibot.ai.features import FeatureSpec
from minibot.ai.labels import LabeledRow
from minibot.journal.atomic import (
    atomic_write_bytes,
    canonical_bytes,
    read_critical_json,
    write_critical_json,
)
from minibot.reasons import NonAtomicWrite, NoreError, ReasonCode
from minibot.runlayout import AI_DATASETS_DIR, DATASET_MANIFEST_FILE

DATASET_FORMAT = 1


class DatasetCorrupt(NoreError):
    """A dataset manifest or shard does not match its recorded sha256."""

    reason_code = ReasonCode.NON_ATOMIC_WRITE


def row_dtype(n_features: int) -> np.dtype:
    """The structured row type of a shard with `n_features` features."""
    return np.dtype(
        [
            ("ts", "<i8"),
            ("symbol", "<U20"),
            ("label", "<i1"),
            ("fwd_ret", "<f8"),
            ("features", "<f8", (n_features,)),
            ("feature_hash", "<U64"),
        ]
    )


def window_dtype(n_features: int) -> np.dtype:
    """What the in-memory window keeps of a row: training reads only these. The shard's symbol and feature
    hash (`<U20` + `<U64`: 336 of its ~430 bytes with 10 features) stay on disk, so a 2-hour window of a
    busy night costs a fifth of the memory (issue 14, item 4)."""
    return np.dtype([("ts", "<i8"), ("label", "<i1"), ("features", "<f8", (n_features,))])


@dataclass(frozen=True, slots=True)
class Window:
    """Rows of the dataset inside one event-time window, oldest first."""

    ts: np.ndarray
    X: np.ndarray
    y: np.ndarray
    start_ts: int
    end_ts: int
    dataset_version: str
    manifest_sha256: str

    @property
    def rows(self) -> int:
        """Number of rows."""
        return int(self.y.shape[0])


class DatasetStore:
    """Appends labelled rows as shards and keeps the most recent `window_ms` of rows in memory."""

    def __init__(self, ai_dir: Path, spec: FeatureSpec, horizon_ms: int, shard_rows: int, window_ms: int) -> None:
        self.spec = spec
        self.version = f"ds{DATASET_FORMAT}-{spec.spec_hash()[:12]}-h{horizon_ms}"
        self.dir = Path(ai_dir) / AI_DATASETS_DIR / self.version
        self.horizon_ms = horizon_ms
        self.shard_rows = shard_rows
        self.window_ms = window_ms
        self._dtype = row_dtype(len(spec.names))
        self._window_dtype = window_dtype(len(spec.names))
        self._buffer: list[LabeledRow] = []
        self._chunks: list[np.ndarray] = []
        self._shards: list[dict[str, Any]] = []
        self.total_rows = 0
        self.manifest_sha256 = ""
        self.dir.mkdir(parents=True, exist_ok=True)
        if (self.dir / DATASET_MANIFEST_FILE).exists():
            self._load()

    @property
    def rows(self) -> int:
        """Labelled rows collected so far (written shards plus the buffer)."""
        return self.total_rows + len(self._buffer)

    def add(self, row: LabeledRow) -> None:
        """Buffer one labelled row; a full buffer becomes a shard."""
        self._buffer.append(row)
        if len(self._buffer) >= self.shard_rows:
            self.flush()

    def flush(self) -> None:
        """Write buffered rows as the next shard, then the manifest that lists it."""
        if not self._buffer:
            return
        arr = self._to_array(self._buffer)
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        data = buf.getvalue()
        name = f"shard-{len(self._shards):05d}.npy"
        atomic_write_bytes(self.dir / name, data)
        entry = {
            "name": name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "rows": int(arr.shape[0]),
            "ts_first": int(arr["ts"][0]),
            "ts_last": int(arr["ts"][-1]),
        }
        self._write_manifest([*self._shards, entry])
        self._shards.append(entry)
        self._buffer.clear()
        self.total_rows += int(arr.shape[0])
        self._keep(arr)

    def window(self, end_ts: int) -> Window:
        """Flush, then the rows with `end_ts - window_ms < ts <= end_ts`."""
        self.flush()
        start = end_ts - self.window_ms
        rows = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=self._window_dtype)
        # Shards are appended in label-resolution order, which interleaves symbols; sort by time so the
        # held-out part really is the most recent stretch. A stable sort keeps the order deterministic.
        rows = rows[(rows["ts"] > start) & (rows["ts"] <= end_ts)]
        rows = rows[np.argsort(rows["ts"], kind="stable")]
        return Window(
            ts=rows["ts"].copy(),
            X=np.ascontiguousarray(rows["features"], dtype=np.float64),
            y=rows["label"].astype(np.int64),
            start_ts=start,
            end_ts=end_ts,
            dataset_version=self.version,
            manifest_sha256=self.manifest_sha256,
        )

    def _to_array(self, rows: Sequence[LabeledRow]) -> np.ndarray:
        arr = np.zeros(len(rows), dtype=self._dtype)
        arr["ts"] = [r.sample.ts for r in rows]
        arr["symbol"] = [r.sample.symbol for r in rows]
        arr["label"] = [r.label for r in rows]
        arr["fwd_ret"] = [r.fwd_ret for r in rows]
        arr["features"] = [r.sample.features for r in rows]
        arr["feature_hash"] = [r.sample.feature_hash for r in rows]
        return arr

    def _write_manifest(self, shards: list[dict[str, Any]]) -> None:
        doc = {
            "format": "nore.ai.dataset",
            "v": DATASET_FORMAT,
            "version": self.version,
            "feature_names": list(self.spec.names),
            "feature_spec_hash": self.spec.spec_hash(),
            "horizon_ms": self.horizon_ms,
            "row_dtype": str(self._dtype.descr),
            "rows": sum(int(s["rows"]) for s in shards),
            "shards": shards,
        }
        write_critical_json(self.dir / DATASET_MANIFEST_FILE, doc)
        self.manifest_sha256 = hashlib.sha256(canonical_bytes(doc)).hexdigest()

    def _keep(self, shard: np.ndarray) -> None:
        """Hold a shard's window fields in memory and drop chunks wholly older than the window it reaches."""
        chunk = np.empty(shard.shape[0], dtype=self._window_dtype)
        for name in self._window_dtype.names or ():
            chunk[name] = shard[name]
        self._chunks.append(chunk)
        self._prune(int(shard["ts"].max()))

    def _prune(self, latest_ts: int) -> None:
        cutoff = latest_ts - self.window_ms
        self._chunks = [c for c in self._chunks if int(c["ts"].max()) > cutoff]

    def _load(self) -> None:
        path = self.dir / DATASET_MANIFEST_FILE
        try:
            doc = read_critical_json(path)
        except NonAtomicWrite as exc:
            raise DatasetCorrupt(f"dataset manifest refused: {exc.detail}") from None
        if doc.get("version") != self.version or doc.get("feature_names") != list(self.spec.names):
            raise DatasetCorrupt(f"{path}: manifest is for another dataset version or feature set")
        self.manifest_sha256 = hashlib.sha256(canonical_bytes(doc)).hexdigest()
        for entry in doc["shards"]:
            data = (self.dir / entry["name"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise DatasetCorrupt(f"{self.dir / entry['name']}: sha256 does not match the manifest")
            arr = np.load(io.BytesIO(data), allow_pickle=False)
            if arr.dtype != self._dtype:
                raise DatasetCorrupt(f"{entry['name']}: row type {arr.dtype} is not {self._dtype}")
            self._shards.append(entry)
            self.total_rows += int(arr.shape[0])
            self._keep(arr)  # a whole night's shards are read, but only the window's stay in memory
        if self._chunks:
            self._prune(max(int(c["ts"].max()) for c in self._chunks))
