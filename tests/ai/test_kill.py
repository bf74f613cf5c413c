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


def _wait_for_snapshot(root: Path, more_than: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(scan(root)[0]) <= more_than and time.monotonic() < deadline:
        time.sleep(0.05)


def test_kill_9_mid_training_leaves_the_store_consistent(tmp_path: Path) -> None:
    ai_dir = tmp_path / "ai"
    rng = random.Random(7)
    trained = kills = 0
    # At least 5 kills; more (bounded) on a slow machine until two snapshots were written between kills.
    while kills < 5 or (trained < 2 and kills < 8):
        kills += 1
        proc = subprocess.Popen([sys.executable, str(DRIVER), str(ai_dir)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        if kills > 5:  # a slow machine: let this run write a snapshot, then still kill at a random moment
            _wait_for_snapshot(ai_dir / "snapshots", trained, timeout_s=30.0)
        time.sleep(rng.uniform(0.5, 2.0))
        proc.kill()
        proc.wait(timeout=30)
        trained, _ = _check_consistent(ai_dir)
    assert trained >= 2, "the driver should have written snapshots before being killed"
    # A fresh engine starts on what the kills left behind.
    AiEngine(KILL_CFG, ai_dir, lambda _e: None).close()
