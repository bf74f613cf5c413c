"""kill -9 of the AI process at random moments leaves active.json, snapshots and dataset consistent."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from minibot.ai.dataset import DatasetStore
from minibot.ai.engine import AiEngine
from minibot.ai.registry import Registry
from minibot.ai.settings import AiSettings
from minibot.ai.snapshots import load_snapshot, scan

from .kill_driver import KILL_CFG

DRIVER = Path(__file__).with_name("kill_driver.py")


def _check_consistent(ai_dir: Path) -> tuple[int, int]:
    settings = AiSettings.from_config(KILL_CFG)
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


def test_kill_9_mid_training_leaves_the_store_consistent(tmp_path: Path) -> None:
    ai_dir = tmp_path / "ai"
    rng = random.Random(7)
    trained = 0
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, str(DRIVER), str(ai_dir)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.5, 2.0))
        proc.kill()
        proc.wait(timeout=30)
        trained, _ = _check_consistent(ai_dir)
    assert trained >= 2, "the driver should have written snapshots before being killed"
    # A fresh engine starts on what the kills left behind.
    AiEngine(KILL_CFG, ai_dir, lambda _e: None).close()
