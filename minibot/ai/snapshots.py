"""Model snapshots: `<ai_dir>/snapshots/<version>/{model.json, manifest.json}` (R-I6).

`model.json` holds plain weights (see `minibot.ai.model`); nothing is ever unpickled. `manifest.json` is a
critical JSON file (own sha256) with the sha256 and size of every other file, the training window, the
dataset manifest hash, the gate metrics and decision, the parent version and library versions.

Write order is the commit protocol: model.json first, manifest.json last, each atomically. A folder
without a valid manifest is an interrupted write ("incomplete"): never loaded, never reused (versions are
numbered past it). Loading reads the manifest through its self-hash, then checks every listed file's
sha256 and size, refuses files the manifest does not list, and parses the weights: any mismatch raises
`SnapshotRefused` and the snapshot is not used.
"""

from __future__ import annotations

import hashlib
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from minibot.ai.model import ModelInvalid, PlainModel
from minibot.journal.atomic import atomic_write_bytes, read_critical_json, write_critical_json
from minibot.reasons import NonAtomicWrite, NoreError, ReasonCode
from minibot.runlayout import SNAPSHOT_MANIFEST_FILE, SNAPSHOT_MODEL_FILE

SNAPSHOT_FORMAT = "nore.ai.snapshot"
SNAPSHOT_FORMAT_V = 1
VERSION_RE = re.compile(r"^m(\d{6})$")


class SnapshotRefused(NoreError):
    """A snapshot's files do not match its manifest (or it has none): it must not be loaded."""

    reason_code = ReasonCode.NON_ATOMIC_WRITE


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A verified, loaded snapshot."""

    version: str
    model: PlainModel
    manifest: dict[str, Any]


def library_versions() -> dict[str, str]:
    """Versions of what produced a model, recorded in its manifest (the trainer is numpy alone; manifests of
    earlier runs also list scikit-learn, and load the same: loading does not read this record)."""
    return {"python": platform.python_version(), "numpy": np.__version__}


def scan(root: Path) -> tuple[list[str], list[str]]:
    """(complete, incomplete) snapshot versions under `root`, oldest first; complete = has a manifest."""
    complete: list[str] = []
    incomplete: list[str] = []
    if not root.is_dir():
        return complete, incomplete
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and VERSION_RE.match(entry.name):
            (complete if (entry / SNAPSHOT_MANIFEST_FILE).is_file() else incomplete).append(entry.name)
    return complete, incomplete


def next_version(root: Path) -> str:
    """The next version number, past every folder including interrupted ones."""
    complete, incomplete = scan(root)
    numbers = [int(m.group(1)) for v in complete + incomplete if (m := VERSION_RE.match(v))]
    return f"m{max(numbers, default=0) + 1:06d}"


def write_snapshot(root: Path, version: str, model: PlainModel, fields: Mapping[str, Any]) -> Path:
    """Write model.json then the manifest (with `fields`: window, dataset, metrics, gate, parent...)."""
    folder = root / version
    folder.mkdir(parents=True, exist_ok=False)
    model_bytes = orjson.dumps(model.to_json(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    atomic_write_bytes(folder / SNAPSHOT_MODEL_FILE, model_bytes)
    manifest = {
        **fields,
        "format": SNAPSHOT_FORMAT,
        "v": SNAPSHOT_FORMAT_V,
        "version": version,
        "files": {SNAPSHOT_MODEL_FILE: {"sha256": hashlib.sha256(model_bytes).hexdigest(), "bytes": len(model_bytes)}},
        "feature_names": list(model.feature_names),
        "libraries": library_versions(),
    }
    write_critical_json(folder / SNAPSHOT_MANIFEST_FILE, manifest)
    return folder


def load_snapshot(root: Path, version: str, feature_names: tuple[str, ...]) -> Snapshot:
    """Verify and load one snapshot; raises `SnapshotRefused` on any mismatch."""
    if not VERSION_RE.match(version):
        raise SnapshotRefused(f"{version!r} is not a snapshot version")
    folder = root / version
    try:
        manifest = read_critical_json(folder / SNAPSHOT_MANIFEST_FILE)
    except FileNotFoundError:
        raise SnapshotRefused(f"{folder}: no manifest (interrupted write)") from None
    except NonAtomicWrite as exc:
        raise SnapshotRefused(f"{folder}: manifest refused: {exc.detail}") from None
    if manifest.get("format") != SNAPSHOT_FORMAT or manifest.get("version") != version:
        raise SnapshotRefused(f"{folder}: manifest is not for snapshot {version}")
    files = manifest.get("files")
    if not isinstance(files, dict) or SNAPSHOT_MODEL_FILE not in files:
        raise SnapshotRefused(f"{folder}: manifest lists no {SNAPSHOT_MODEL_FILE}")
    present = {p.name for p in folder.iterdir()}
    unlisted = sorted(present - set(files) - {SNAPSHOT_MANIFEST_FILE})
    if unlisted:
        raise SnapshotRefused(f"{folder}: files not in the manifest: {unlisted}")
    contents: dict[str, bytes] = {}
    for name, meta in files.items():
        path = folder / name
        if not path.is_file():
            raise SnapshotRefused(f"{path}: listed in the manifest but missing")
        data = path.read_bytes()
        if len(data) != meta.get("bytes") or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise SnapshotRefused(f"{path}: sha256/size does not match the manifest")
        contents[name] = data
    try:
        model = PlainModel.from_json(orjson.loads(contents[SNAPSHOT_MODEL_FILE]))
    except (orjson.JSONDecodeError, ModelInvalid) as exc:
        raise SnapshotRefused(f"{folder / SNAPSHOT_MODEL_FILE}: {exc}") from None
    if model.feature_names != feature_names:
        raise SnapshotRefused(f"{folder}: model features {model.feature_names} are not {feature_names}")
    return Snapshot(version=version, model=model, manifest=manifest)
