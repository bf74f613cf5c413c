"""A run directory for the core role processes, and a market_role stand-in that feeds it recorded ticks.

`make_run_dir` writes what the supervisor writes before roles start: `run.json` (shipped config, clock
anchored now) and `exchange_info.json` (the Binance-like document of tests/core/fixtures.py). `TickFeeder`
publishes the real BTCUSDT recording (tests/core/realdata.py) to market_ticks as market_role would: ticks
keep their recorded spacing, shifted onto the run clock and released when the run clock reaches them, each
stamped with `recv_perf_ns` (`time.perf_counter_ns()` at publication, as market_role stamps receipt).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from minibot.clock import RunClock
from minibot.config.loader import load_config
from minibot.config.views import QueuesConfig
from minibot.ids import cmdline_hash, deterministic_id
from minibot.journal.atomic import write_critical_json
from minibot.journal.context import RunContext
from minibot.journal.doorbell import queue_ringer
from minibot.runlayout import RUN_FILE, SHUTDOWN_FILE
from tests.core.fixtures import EXCHANGE_INFO
from tests.core.realdata import load_ticks

RUN_ID = "20240808_235413"
COMMAND_LINE = "nore run --sim --speed 60"
SPEED = 60.0
REPO = Path(__file__).resolve().parents[2]


def make_run_dir(run_dir: Path, speed: float = SPEED, config: dict[str, Any] | None = None) -> RunContext:
    """Write run.json (with `config`, by default the shipped one) + exchange_info.json; returns the run's
    context (clock shared with the roles)."""
    config = load_config() if config is None else config
    anchor = time.time()
    start_ms = int(anchor * 1000)
    # Every process runs on this very clock through its perf-counter anchor (as the supervisor writes it); mapping
    # the wall-clock anchor in each process separately would differ by any descheduling between two readings.
    clock = RunClock(start_ms, speed)
    digest = cmdline_hash(COMMAND_LINE)
    run: dict[str, Any] = {
        "run_id": RUN_ID,
        "cmdline_hash": digest,
        "command_line": COMMAND_LINE,
        "config": config,
        "clock": {
            "start_ms": start_ms,
            "speed": speed,
            "anchor_unix_s": anchor,
            "anchor_perf_ns": clock.anchor_perf_ns,
        },
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    write_critical_json(run_dir / RUN_FILE, run)
    write_critical_json(run_dir / "exchange_info.json", EXCHANGE_INFO)
    return RunContext(run_dir, RUN_ID, digest, clock.now_ms, QueuesConfig.from_config(config), queue_ringer)


def start_role(role: str, run_dir: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`python -m minibot.roles.<role> --run-dir RUN_DIR`, its output in `<run>/<role>.out`; `env` replaces
    the environment when given."""
    out = (run_dir / f"{role}.out").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", f"minibot.roles.{role}", "--run-dir", str(run_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
    finally:
        out.close()


def request_shutdown(run_dir: Path) -> None:
    """The supervisor's graceful end of the run."""
    (run_dir / SHUTDOWN_FILE).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / SHUTDOWN_FILE).touch()


def recorded_ticks(limit: int | None = None) -> list[dict[str, Any]]:
    """BTCUSDT trade ticks of the real recording (payloads + recorded ts), in receive order."""
    ticks = load_ticks("BTCUSDT", False)
    return list(ticks[:limit] if limit else ticks)


class TickFeeder(threading.Thread):
    """market_role stand-in: publishes the recorded ticks paced by the run clock, in small batches."""

    def __init__(self, ctx: RunContext, ticks: list[dict[str, Any]], start_delay_ms: int = 2000) -> None:
        super().__init__(daemon=True)
        self.ctx = ctx
        self.ticks = ticks
        self.shift = ctx.clock() + start_delay_ms - ticks[0]["ts"]
        self.published = 0
        self.ids: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        """Publish every tick once the run clock reaches its shifted ts (bounded by the recording)."""
        producer = self.ctx.producer("market_ticks", "market_role")
        try:
            i = 0
            while i < len(self.ticks):
                now = self.ctx.clock()
                batch: list[dict[str, Any]] = []
                while i < len(self.ticks) and self.ticks[i]["ts"] + self.shift <= now and len(batch) < 200:
                    tick = self.ticks[i]
                    payload = {**tick["payload"], "recv_perf_ns": time.perf_counter_ns()}
                    tick_id = deterministic_id(RUN_ID, "tick", str(i))
                    batch.append(producer.event("market_tick", payload, ts=tick["ts"] + self.shift, id_=tick_id))
                    self.ids.append(tick_id)
                    i += 1
                if batch:
                    self.published += producer.publish(batch)
                else:
                    time.sleep(0.002)
                producer.flush_if_due()
        except BaseException as exc:  # surfaced by the test through `error`
            self.error = exc
        finally:
            producer.close()
