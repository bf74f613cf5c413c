"""Dataset shards, snapshots and the active pointer: hashes verified, tampering refused (R-I6, R-I7)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import orjson
import pytest

from minibot.ai.dataset import DatasetCorrupt, DatasetStore
from minibot.ai.features import FeatureSpec
from minibot.ai.labels import LabeledRow, Sample
from minibot.ai.model import PlainModel
from minibot.ai.registry import Registry
from minibot.ai.settings import AiSettings
from minibot.ai.snapshots import SnapshotRefused, load_snapshot, next_version, scan, write_snapshot
from minibot.journal.atomic import read_critical_json
from minibot.reasons import NonAtomicWrite
from minibot.sectionview import build_view

from . import sgd_snapshot
from .aidata import KLINES_CFG, ai_cfg

SPEC = FeatureSpec((1000, 5000), 2000, 2000, 1000)
NAMES = SPEC.names


def _row(ts: int, label: int) -> LabeledRow:
    vec = tuple(float(ts % 7 + i) for i in range(len(NAMES)))
    return LabeledRow(Sample(ts, "ETHUSDT", 100.0, vec, "ab" * 32, None, None), label, 0.001 if label else -0.001)


def _model(shift: float = 0.0) -> PlainModel:
    n = len(NAMES)
    return PlainModel(NAMES, (0.0,) * n, (1.0,) * n, tuple(0.1 * i + shift for i in range(n)), -0.2, 0.48)


def test_dataset_shards_manifest_and_reload(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path, SPEC, horizon_ms=5000, shard_rows=4, window_ms=10_000)
    for ts in range(1000, 11_000, 1000):
        store.add(_row(ts, ts // 1000 % 2))
    window = store.window(11_000)  # flushes the 2 buffered rows as a third shard
    assert window.rows == 9 and window.X.shape == (9, len(NAMES)) and int(window.ts[0]) == 2000
    manifest = read_critical_json(store.dir / "manifest.json")
    assert [s["rows"] for s in manifest["shards"]] == [4, 4, 2] and manifest["rows"] == 10
    for shard in manifest["shards"]:
        data = (store.dir / shard["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
        np.load(store.dir / shard["name"], allow_pickle=False)  # plain arrays, no pickle needed
    assert window.manifest_sha256 == hashlib.sha256(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)).hexdigest()

    again = DatasetStore(tmp_path, SPEC, horizon_ms=5000, shard_rows=4, window_ms=10_000)
    assert again.rows == 10
    assert np.array_equal(again.window(11_000).X, window.X)


def test_memory_holds_only_the_window_and_only_what_training_reads(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path, SPEC, horizon_ms=5000, shard_rows=4, window_ms=10_000)
    for ts in range(1000, 41_000, 1000):
        store.add(_row(ts, ts // 1000 % 2))
    window = store.window(40_000)
    assert window.rows == 10 and int(window.ts[0]) == 31_000
    held = [c.dtype.names for c in store._chunks]
    assert held and all(names == ("ts", "label", "features") for names in held)  # no symbol, no feature hash
    assert sum(len(c) for c in store._chunks) <= 10 + 4  # the window, plus at most one shard reaching into it
    again = DatasetStore(tmp_path, SPEC, horizon_ms=5000, shard_rows=4, window_ms=10_000)
    assert again.rows == 40 and sum(len(c) for c in again._chunks) <= 10 + 4  # reload keeps the window only
    assert np.array_equal(again.window(40_000).X, window.X)


def test_tampered_dataset_shard_is_refused(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path, SPEC, horizon_ms=5000, shard_rows=2, window_ms=10_000)
    for ts in (1000, 2000):
        store.add(_row(ts, 1))
    shard = store.dir / "shard-00000.npy"
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 1
    shard.write_bytes(bytes(raw))
    with pytest.raises(DatasetCorrupt):
        DatasetStore(tmp_path, SPEC, horizon_ms=5000, shard_rows=2, window_ms=10_000)


def test_unlisted_shard_from_an_interrupted_flush_is_overwritten(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path, SPEC, horizon_ms=5000, shard_rows=2, window_ms=10_000)
    (store.dir / "shard-00000.npy").write_bytes(b"half a shard")  # crash before the manifest listed it
    store.add(_row(1000, 1))
    store.add(_row(2000, 0))
    assert DatasetStore(tmp_path, SPEC, horizon_ms=5000, shard_rows=2, window_ms=10_000).rows == 2


def _write(root: Path, shift: float = 0.0) -> str:
    version = next_version(root)
    write_snapshot(root, version, _model(shift), {"gate": {"passed": True}, "parent_version": None})
    return version


def test_snapshot_roundtrip_and_manifest(tmp_path: Path) -> None:
    version = _write(tmp_path)
    snap = load_snapshot(tmp_path, version, NAMES)
    assert snap.model == _model() and version == "m000001"
    manifest = snap.manifest
    assert set(manifest["files"]) == {"model.json"}
    assert set(manifest["libraries"]) == {"python", "numpy"}  # the trainer is numpy alone
    doc = orjson.loads((tmp_path / version / "model.json").read_bytes())
    assert doc["format"] == "nore.ai.plain_logistic" and len(doc["coef"]) == len(NAMES)


def test_snapshot_of_the_earlier_sklearn_trainer_still_loads(tmp_path: Path) -> None:
    folder = tmp_path / sgd_snapshot.VERSION
    folder.mkdir()
    (folder / "model.json").write_bytes(sgd_snapshot.MODEL_JSON)
    (folder / "manifest.json").write_bytes(sgd_snapshot.MANIFEST_JSON)
    names = build_view(AiSettings, ai_cfg(KLINES_CFG)).features.names
    snap = load_snapshot(tmp_path, sgd_snapshot.VERSION, names)
    assert snap.manifest["libraries"]["scikit-learn"] == "1.9.1"
    assert snap.model == PlainModel.from_json(orjson.loads(sgd_snapshot.MODEL_JSON))
    assert next_version(tmp_path) == "m000002"


@pytest.mark.parametrize("how", ["model_byte", "manifest_edit", "extra_file", "missing_model", "wrong_features"])
def test_tampered_snapshot_is_refused(tmp_path: Path, how: str) -> None:
    version = _write(tmp_path)
    folder = tmp_path / version
    names = NAMES
    if how == "model_byte":
        text = (folder / "model.json").read_text().replace('"intercept": -0.2', '"intercept": 9.2')
        (folder / "model.json").write_text(text)
    elif how == "manifest_edit":
        raw = (folder / "manifest.json").read_bytes().replace(b'"passed":true', b'"passed":false')
        (folder / "manifest.json").write_bytes(raw)
    elif how == "extra_file":
        (folder / "payload.pkl").write_bytes(b"\x80\x04")
    elif how == "missing_model":
        (folder / "model.json").unlink()
    else:
        names = (*NAMES[:-1], "something_else")
    with pytest.raises(SnapshotRefused):
        load_snapshot(tmp_path, version, names)


def test_incomplete_snapshot_is_ignored_and_never_reused(tmp_path: Path) -> None:
    first = _write(tmp_path)
    (tmp_path / "m000002").mkdir()
    (tmp_path / "m000002" / "model.json").write_text("{}")  # killed before its manifest was written
    assert scan(tmp_path) == ([first], ["m000002"])
    with pytest.raises(SnapshotRefused):
        load_snapshot(tmp_path, "m000002", NAMES)
    assert _write(tmp_path) == "m000003"


def test_registry_activation_history_and_rollback(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    v1, v2, v3 = _write(root), _write(root, 0.1), _write(root, 0.2)
    reg = Registry(tmp_path, max_history=5)
    assert reg.read().version is None
    reg.activate(v1, 1, "PASSED")
    reg.activate(v2, 2, "PASSED")
    reg.activate(v3, 3, "PASSED")
    assert reg.read().previous == (v1, v2)

    # v2 was tampered with since: rollback skips it and lands on v1.
    (root / v2 / "model.json").write_text("{}")

    def loadable(v: str) -> bool:
        try:
            load_snapshot(root, v, NAMES)
        except SnapshotRefused:
            return False
        return True

    pointer = reg.rollback(4, "ROLLBACK_LIVE_LOG_LOSS", loadable)
    assert pointer.version == v1 and pointer.previous == () and reg.read() == pointer
    assert reg.rollback(5, "again", loadable).version is None


def test_torn_active_pointer_is_a_non_atomic_write(tmp_path: Path) -> None:
    reg = Registry(tmp_path, max_history=5)
    reg.activate("m000001", 1, "PASSED")
    reg.path.write_bytes(reg.path.read_bytes()[:20])
    with pytest.raises(NonAtomicWrite):
        reg.read()
