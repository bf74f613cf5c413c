"""A real run directory around the real loopback simulator, and market/health role processes started in it.

No mocks: the simulator is `minibot.sim` on 127.0.0.1 (own thread), the roles are `python -m
minibot.roles.<role>` subprocesses (spawned, as the supervisor does), the files are real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minibot.config.loader import load_config, with_overrides
from minibot.ids import cmdline_hash, new_run_id
from minibot.journal.atomic import write_critical_json
from minibot.journal.layout import INBOX, QueuePaths
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.stop import is_stopped
from minibot.roles.request_journal import journal_folder
from minibot.runlayout import REQUESTS_STEM, RUN_FILE, SHUTDOWN_FILE
from minibot.sim.runner import SimConfig, SimulatorThread

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@dataclass
class Run:
    """A run directory wired to a simulator."""

    run_dir: Path
    sim: SimulatorThread
    procs: dict[str, subprocess.Popen[bytes]]

    def start(self, role: str) -> subprocess.Popen[bytes]:
        """Start `python -m minibot.roles.<role> --run-dir RUN_DIR`; output goes to logs/<role>.out."""
        logs = self.run_dir / "logs"
        logs.mkdir(exist_ok=True)
        out = (logs / f"{role}.out").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", f"minibot.roles.{role}", "--run-dir", str(self.run_dir)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        out.close()
        self.procs[role] = proc
        return proc

    def output(self, role: str) -> str:
        """What the role printed (its log handlers write to stderr until the supervisor configures logs)."""
        return (self.run_dir / "logs" / f"{role}.out").read_text(errors="replace")

    def shutdown(self) -> None:
        """Ask every role to end gracefully."""
        path = self.run_dir / SHUTDOWN_FILE
        path.parent.mkdir(exist_ok=True)
        path.touch()

    def wait_exit(self, role: str, timeout_s: float = 20.0) -> int:
        """The role's exit code (fails the test if it does not exit in time)."""
        try:
            return self.procs[role].wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{role} did not exit within {timeout_s} s:\n{self.output(role)}") from None

    def kill_all(self) -> None:
        """Kill whatever is still running (test teardown)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    def events(self, queue: str) -> list[dict[str, Any]]:
        """Every whole event of a queue so far, validated against its contract."""
        paths = QueuePaths.of(self.run_dir / "queues", queue)
        return [decode_event(raw.data, paths.contract)[1] for raw in iter_lines(paths.folder, INBOX)]

    def requests(self) -> list[dict[str, Any]]:
        """Every `http_request` event of the request journal so far."""
        folder = journal_folder(self.run_dir)
        return [decode_event(raw.data)[1] for raw in iter_lines(folder, REQUESTS_STEM)]

    def stopped(self) -> bool:
        """STOP.flag exists."""
        return is_stopped(self.run_dir)


def make_run(
    tmp: Path, speed: float, scenario: dict[str, Any] | None = None, binance: dict[str, Any] | None = None
) -> Run:
    """Start a simulator and write a run directory whose run clock is the simulator's clock."""
    sim = SimulatorThread(SimConfig(symbols=SYMBOLS, speed=speed, scenario=scenario, seed=7)).start()
    sim_clock = sim.running.ctx.clock
    # The run clock is the simulator's very clock (its start and perf-counter anchor, as the supervisor writes
    # them), so scenario times line up exactly: two separate readings of a clock and time.time() would differ by
    # whatever the thread was descheduled in between, times the speed (seconds of skew at speed 60 under load).
    anchor_unix_s = time.time() - (time.perf_counter_ns() - sim_clock.anchor_perf_ns) / 1e9
    overrides = {"binance": {"rest_base_url": sim.base_url, "ws_base_url": sim.ws_base_url, **(binance or {})}}
    config = with_overrides(load_config(), overrides)
    run_dir = tmp / "run"
    run_dir.mkdir()
    command_line = f"nore run --run-dir {run_dir}"
    write_critical_json(
        run_dir / RUN_FILE,
        {
            "run_id": new_run_id(),
            "cmdline_hash": cmdline_hash(command_line),
            "command_line": command_line,
            "config": config,
            "clock": {
                "start_ms": sim_clock.start_ms,
                "speed": speed,
                "anchor_unix_s": anchor_unix_s,
                "anchor_perf_ns": sim_clock.anchor_perf_ns,
            },
        },
    )
    for name in config["queues"]["names"]:
        QueuePaths.of(run_dir / "queues", name).create()
    return Run(run_dir, sim, {})


def wait_until(
    check: Callable[[], bool],
    timeout_s: float,
    what: str,
    poll_s: float = 0.05,
    detail: Callable[[], object] | None = None,
) -> None:
    """Poll `check` until true; fail naming `what` (and showing `detail()`, the data that did not fit) after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll_s)
    shown = "" if detail is None else f": {detail()}"
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}{shown}")


def ticks_of(ticks: list[dict[str, Any]], kind: str, symbol: str) -> Iterator[dict[str, Any]]:
    """market_tick payloads of one kind and symbol, in queue order."""
    for tick in ticks:
        if tick["kind"] == kind and tick["symbol"] == symbol:
            yield tick
