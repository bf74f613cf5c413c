"""kill -9 of the AI process at random moments leaves active.json, snapshots and dataset consistent."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minibot.ai.dataset import DatasetStore
from minibot.ai.engine import AiEngine
from minibot.ai.registry import Registry
from minibot.ai.settings import AiSettings
from minibot.ai.snapshots import load_snapshot, scan
from minibot.sectionview import build_view

from .kill_driver import KILL_CFG

pytestmark = pytest.mark.process

DRIVER = Path(__file__).with_name("kill_driver.py")


def _check_consistent(ai_dir: Path) -> tuple[int, int]:
    settings = build_view(AiSettings, KILL_CFG)
    names = settings.features.names
    root = ai_dir / "snapshots"
    complete, incomplete = scan(root)
    for version in complete:
        load_snapshot(root, version, names)  # raises on any hash mismatch
    pointer = Registry(ai_dir, settings.max_history).read()
    for version in (*pointer.previous, *([pointer.version] if pointer.version else [])):
        assert version in complete
    DatasetStore(ai_dir, settings.features, settings.horizon_ms, settings.shard_rows, settings.window_ms)
    return len(complete), len(incomplete)


def _wait_for_snapshot(root: Path, more_than: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(scan(root)[0]) <= more_than:
        assert time.monotonic() < deadline, f"no snapshot beyond {more_than} within {timeout_s} s of training"
        time.sleep(0.05)


def test_kill_9_mid_training_leaves_the_store_consistent(tmp_path: Path) -> None:
    ai_dir = tmp_path / "ai"
    rng = random.Random(7)
    # Every second life is killed only after it has written a snapshot of its own (a file state, not a
    # guess of how long training takes on this machine), then at a random moment of the work after it;
    # the others at a random moment of their start-up and first training. So the kills land both before
    # and between snapshots, and the store ends with at least two, on an idle or a loaded machine alike.
    for kill in range(1, 7):
        proc = subprocess.Popen([sys.executable, str(DRIVER), str(ai_dir)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            if kill % 2 == 0:
                _wait_for_snapshot(ai_dir / "snapshots", len(scan(ai_dir / "snapshots")[0]), timeout_s=180.0)
            time.sleep(rng.uniform(0.0, 2.0))
            assert proc.poll() is None, "the driver ended before it was killed"
        finally:
            proc.kill()
            proc.wait(timeout=30)
        trained, _ = _check_consistent(ai_dir)
    assert trained >= 3, "three lives were killed after writing a snapshot each"
    # A fresh engine starts on what the kills left behind.
    AiEngine(KILL_CFG, ai_dir, lambda _e: None).close()
