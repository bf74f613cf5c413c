"""The supervisor's probe of the embedded simulator never goes through a proxy (loopback only), and the run
clock it adopts from the simulator reads the same time as the simulator's."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from minibot.watchdog.launch import MALLOC_ENV, descendants, role_environ
from minibot.watchdog.simproc import SimulatorProcess
from tests.proxyenv import dead_proxy_env


@pytest.mark.process
@pytest.mark.timeout(120)
def test_the_simulator_probe_ignores_a_dead_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead_proxy_env(monkeypatch)
    sim = SimulatorProcess(tmp_path / "logs", speed=10.0, symbols=["BTCUSDT"])
    try:
        base = sim.start()
        assert base.startswith("http://127.0.0.1:")
        # the environment is hostile: a client that follows it cannot reach the simulator
        # (a fresh opener: urlopen() would cache one with the dead proxy for the rest of the session)
        with pytest.raises(urllib.error.URLError):
            urllib.request.build_opener().open(base + "/sim/stats", timeout=5)
        stats = sim.stats()
        assert stats["speed"] == 10.0
        assert sim.sim_clock().speed == 10.0
    finally:
        sim.stop()


@pytest.mark.process
@pytest.mark.timeout(120)
def test_the_adopted_clock_reads_the_simulators_run_clock(tmp_path: Path) -> None:
    sim = SimulatorProcess(tmp_path / "logs", speed=60.0, symbols=["BTCUSDT"])
    try:
        sim.start()
        adopted = sim.sim_clock()
        clock = adopted.clock()
        assert clock.anchor_perf_ns == adopted.anchor_perf_ns and clock.start_ms == adopted.start_ms
        for _ in range(3):
            before = clock.now_ms()
            theirs = int(sim.stats()["now_ms"])
            after = clock.now_ms()
            # One system-wide perf counter on both sides: the simulator's reading lies between ours, give or
            # take the round-trip error of the adoption (a few ms of wall time = a few hundred run ms at 60x).
            assert before - 600 <= theirs <= after + 600, (before, theirs, after)
    finally:
        sim.stop()


@pytest.mark.process
@pytest.mark.timeout(120)
@pytest.mark.skipif(not hasattr(psutil.Process, "memory_maps"), reason="psutil cannot list mapped files here")
def test_the_simulator_holds_neither_numpy_nor_pydantic_and_runs_the_roles_allocator(tmp_path: Path) -> None:
    # Its RSS all night (issue 14, item 4): numpy (~15 MB) and pydantic, which parsing a typer command line
    # imports (~12 MB), are not loaded in the simulator `nore run --sim` starts.
    sim = SimulatorProcess(tmp_path / "logs", speed=10.0, symbols=["BTCUSDT"])
    try:
        sim.start()
        assert sim.proc is not None
        proc = ([psutil.Process(sim.proc.pid), *descendants(sim.proc.pid)])[-1]  # behind a launcher: the child
        mapped = {Path(m.path).name for m in proc.memory_maps()}
        assert any(name.startswith("_multidict") for name in mapped)  # its extensions are listed (aiohttp's)
        assert not [name for name in mapped if name.startswith(("_pydantic_core", "_multiarray_umath"))]
        # ... and its allocator runs as the roles' do.
        assert {k: proc.environ().get(k) for k in MALLOC_ENV} == {
            k: role_environ(dict(os.environ))[k] for k in MALLOC_ENV
        }
    finally:
        sim.stop()
