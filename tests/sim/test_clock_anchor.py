"""`nore run --sim` shares its run clock with the simulator through a wall-time anchor."""

from __future__ import annotations

import time

import pytest

from minibot.sim.runner import SimConfig, SimulatorThread
from tests.sim.conftest import get_json

pytestmark = pytest.mark.process


def test_anchored_clock_is_the_run_clock_whatever_the_start_up_delay() -> None:
    start_ms = 1_700_000_000_000
    anchor = time.time() - 10.0  # the run started 10 real seconds ago at speed 60: 600 run seconds
    with SimulatorThread(SimConfig(speed=60.0, start_ms=start_ms, anchor_unix_s=anchor, seed=1)) as sim:
        sent = time.time()
        _, _, body = get_json(sim.base_url + "/api/v3/time")
        received = time.time()
    # Within one real second of run clock of the request's span (which a busy box may stretch to seconds).
    earliest, latest = start_ms + (sent - anchor) * 60_000, start_ms + (received - anchor) * 60_000
    assert earliest - 60_000 < body["serverTime"] < latest + 60_000, (body["serverTime"] - earliest, received - sent)


def test_unanchored_clock_starts_when_serving() -> None:
    start_ms = 1_700_000_000_000
    with SimulatorThread(SimConfig(speed=1.0, start_ms=start_ms, seed=1)) as sim:
        _, _, body = get_json(sim.base_url + "/api/v3/time")
    assert start_ms <= body["serverTime"] < start_ms + 5_000
