"""The supervisor's probe of the embedded simulator never goes through a proxy (loopback only)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from minibot.watchdog.simproc import SimulatorProcess
from tests.proxyenv import dead_proxy_env


@pytest.mark.timeout(120)
def test_the_simulator_probe_ignores_a_dead_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead_proxy_env(monkeypatch)
    sim = SimulatorProcess(tmp_path / "logs", speed=10.0, symbols=["BTCUSDT"])
    try:
        base = sim.start()
        assert base.startswith("http://127.0.0.1:")
        # the environment is hostile: a client that follows it cannot reach the simulator
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(base + "/sim/stats", timeout=5)
        stats = sim.stats()
        assert stats["speed"] == 10.0
        assert sim.sim_clock().speed == 10.0
    finally:
        sim.stop()
