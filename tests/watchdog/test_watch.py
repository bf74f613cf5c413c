"""The watchdog's reading of its queues: at once after a doorbell ring, otherwise only at the safety net."""

from __future__ import annotations

import time
from pathlib import Path

from minibot.config.loader import load_config
from minibot.config.views import QueuesConfig
from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.journal.context import RunContext
from minibot.watchdog.watch import JournalWatch


def test_without_a_ring_the_queues_are_read_at_the_safety_net_only(tmp_path: Path) -> None:
    config = load_config()
    ctx = RunContext(tmp_path, "20260101_000000", "a" * 64, lambda: 1_767_225_600_000, QueuesConfig.from_config(config))
    watch = JournalWatch(ctx, config, {})
    producer = ctx.producer("health", "market_role")

    def beat() -> None:
        producer.publish([producer.event("health", {**EXAMPLE_PAYLOADS["health"], "role": "market_role"})])

    assert watch.poll(rung=False) is None  # the first call reads (nothing yet), and starts the safety interval
    beat()
    assert watch.poll(rung=False) is None
    assert "market_role" not in watch.last_beat  # within the safety interval, no ring: not read
    assert watch.poll(rung=True) is None
    assert "market_role" in watch.last_beat  # a ring: read at once
    first = watch.last_beat["market_role"]
    beat()
    time.sleep(watch.safety_s)
    assert watch.poll(rung=False) is None
    assert watch.last_beat["market_role"] > first  # the safety net reads what a lost ring announced
    watch.close()
    producer.close()
