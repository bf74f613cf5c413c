"""Child process for the kill test: drives an AiEngine over real klines until killed or done.

Usage: python kill_driver.py AI_DIR. Training runs in the engine's background thread, as in ai_role.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from minibot.ai.engine import AiEngine
from tests.ai.aidata import KLINES_CFG, ai_cfg, drive, kline_ticks, merged

KILL_CFG = ai_cfg(
    KLINES_CFG,
    retrain_interval_ms=3_600_000,
    shard_rows=50,
    gate={"max_log_loss_ratio": 2.0, "max_log_loss_vs_active": 2.0, "min_accuracy": 0.0, "max_ece": 1.0},
    rollback={"window_rows": 30, "min_accuracy": 0.55},
)


def main() -> None:
    """Run until the data ends (the test kills it long before)."""
    engine = AiEngine(KILL_CFG, Path(sys.argv[1]), lambda _e: None)
    print("ready", flush=True)
    drive(engine, merged(*(kline_ticks(s, 20000) for s in ("LINKUSDT", "LTCUSDT", "DOTUSDT"))), wait=False)


if __name__ == "__main__":
    main()
