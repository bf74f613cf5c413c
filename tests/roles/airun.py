"""A prepared run directory for ai_role process tests: run.json, a market_role feeder of real ticks, checks.

- `prepare_run(tmp, ai=..., speed=...)`: run.json written with `write_critical_json` around `load_config()`
  (with the given `ai` overrides); the run clock reads the first recorded tick's time when the run starts,
  so the recorded BTCUSDT + ETHUSDT trades (tests/ai/aidata) replay live at `speed`.
- `Feeder`: a thread publishing those ticks as `market_role` to `market_ticks` as the run clock passes them.
- `start_ai_role(run, env)`: the real `python -m minibot.roles.ai_role --run-dir RUN` child process.
- `check_store(run)`: every snapshot with a manifest verifies; active.json points at one of them or none.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from minibot.ai.registry import Registry
from minibot.ai.settings import AiSettings
from minibot.ai.snapshots import load_snapshot, scan
from minibot.clock import RunClock
from minibot.config.loader import load_config, with_overrides
from minibot.config.views import QueuesConfig
from minibot.ids import cmdline_hash
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.context import RunContext
from minibot.journal.doorbell import queue_ringer
from minibot.journal.reader import decode_event, iter_lines
from minibot.roles.runner import queue_events
from tests.ai.aidata import TRADES_CFG, ai_cfg, merged, trade_ticks

RUN_ID = "20240808_235413"
COMMAND_LINE = "nore run --sim --speed 60"
LENIENT_GATE = {"max_log_loss_ratio": 2.0, "max_log_loss_vs_active": 2.0, "min_accuracy": 0.0, "max_ece": 1.0}
# Second-scale settings for the 11-minute trade recordings, strong L2 (a few hundred rows overfit at the
# default alpha) and a lenient gate: these tests check the pipeline (train, gate, activate, recommend,
# restart), not the model's edge.
AI_TEST_CFG = ai_cfg(TRADES_CFG, gate=LENIENT_GATE, trainer={"alpha": 1.0, "epochs": 20})


def recorded_ticks() -> list[dict[str, Any]]:
    """BTCUSDT and ETHUSDT recorded trades as market_tick envelopes, merged by time."""
    return list(merged(trade_ticks("BTCUSDT"), trade_ticks("ETHUSDT")))


@dataclass(frozen=True)
class Run:
    """A prepared run directory and the test's own view of its clock and queues."""

    dir: Path
    ctx: RunContext
    clock: RunClock
    config: Mapping[str, Any]

    @property
    def ai_dir(self) -> Path:
        """The AI artifact folder."""
        return self.dir / str(self.config["ai"]["dir"])

    def events(self, queue: str) -> list[dict[str, Any]]:
        """Every event of `queue`, verified line by line against its contract."""
        return list(queue_events(self.ctx, queue))

    def metrics(self) -> dict[str, Any]:
        """`<ai>/metrics.json` as ai_role last wrote it."""
        data: dict[str, Any] = read_critical_json(self.ai_dir / "metrics.json")
        return data


def prepare_run(tmp: Path, ai: Mapping[str, Any] | None = None, speed: float = 60.0, **config: Any) -> Run:
    """A run directory with run.json (config as used, shared clock anchored now at the first tick)."""
    run_dir = tmp / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    cfg = with_overrides(load_config(), {"ai": ai or AI_TEST_CFG, **config})
    start_ms = int(recorded_ticks()[0]["ts"])
    anchor = time.time()
    clock = RunClock(start_ms, speed)  # the processes share it by its perf-counter anchor, as the supervisor writes
    chash = cmdline_hash(COMMAND_LINE)
    run = {
        "run_id": RUN_ID,
        "cmdline_hash": chash,
        "command_line": COMMAND_LINE,
        "config": cfg,
        "clock": {
            "start_ms": start_ms,
            "speed": speed,
            "anchor_unix_s": anchor,
            "anchor_perf_ns": clock.anchor_perf_ns,
        },
    }
    write_critical_json(run_dir / "run.json", run)
    ctx = RunContext(run_dir, RUN_ID, chash, clock.now_ms, QueuesConfig.from_config(cfg), queue_ringer)
    return Run(run_dir, ctx, clock, cfg)


class Feeder(threading.Thread):
    """Publishes recorded ticks (as market_role, fresh ids, the recorded time as ts) as the run clock passes
    them; `until_ms` bounds the run time it covers."""

    def __init__(self, run: Run, ticks: list[dict[str, Any]], until_ms: int | None = None) -> None:
        super().__init__(name="feeder", daemon=True)
        self.run_ = run
        self.ticks = [t for t in ticks if until_ms is None or t["ts"] <= until_ms]
        self.published: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        """Publish every tick whose time has come, in small batches, until all are out."""
        producer = self.run_.ctx.producer("market_ticks", "market_role")
        try:
            i = 0
            while i < len(self.ticks):
                now = self.run_.clock.now_ms()
                batch = []
                while i < len(self.ticks) and self.ticks[i]["ts"] <= now:
                    tick = self.ticks[i]
                    batch.append(producer.event("market_tick", tick["payload"], ts=tick["ts"]))
                    i += 1
                producer.publish(batch)
                self.published.extend(e["id"] for e in batch)
                time.sleep(0.005)
        except BaseException as exc:  # surfaced by finish()
            self.error = exc
        finally:
            producer.close()

    def finish(self, timeout_s: float = 60.0) -> list[str]:
        """Wait for the feeder; the ids it published."""
        self.join(timeout_s)
        assert not self.is_alive(), "feeder did not finish in time"
        assert self.error is None, f"feeder failed: {self.error!r}"
        return self.published


def log_path(run: Run) -> Path:
    """Where the child's stdout/stderr go, as the supervisor does: `logs/ai_role.log`."""
    return run.dir / "logs" / "ai_role.log"


def start_ai_role(run: Run, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The real ai_role process on `run` (spawned; output appended to logs/ai_role.log)."""
    log_path(run).parent.mkdir(exist_ok=True)
    with log_path(run).open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "minibot.roles.ai_role", "--run-dir", str(run.dir)],
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _log_tail(run: Run) -> str:
    path = log_path(run)
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def wait_for(what: str, cond: Callable[[], bool], proc: subprocess.Popen[bytes], run: Run, timeout_s: float) -> None:
    """Poll `cond` until true; fail with the process's log if it exits first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"ai_role exited ({proc.returncode}) before {what}:\n{_log_tail(run)}")
        time.sleep(0.05)
    metrics = run.metrics() if metrics_exist(run) else None
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; metrics {metrics}\n{_log_tail(run)}")


def shutdown(run: Run, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> int:
    """Graceful end through the control file; the exit code. The file is removed again for a restart."""
    flag = run.dir / "control" / "shutdown"
    flag.parent.mkdir(exist_ok=True)
    flag.touch()
    try:
        code = proc.wait(timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        flag.unlink()
    return code


def metrics_exist(run: Run) -> bool:
    """ai_role has written its metrics at least once."""
    return (run.ai_dir / "metrics.json").exists()


def consumed(run: Run, count: int) -> Callable[[], bool]:
    """A condition: ai_role has folded in `count` ticks (by its metrics file)."""

    def cond() -> bool:
        if not metrics_exist(run):
            return False
        m = run.metrics()
        return bool(m["ticks"] + m["ticks_refused"] >= count)

    return cond


def model_events(run: Run) -> list[dict[str, Any]]:
    """Payloads of `<ai>/model_events.jsonl`, every line verified as an ai_model_event from ai_role."""
    out = []
    for raw in iter_lines(run.ai_dir, "model_events"):
        _, event = decode_event(raw.data, run_id=RUN_ID, cmdline_hash=run.ctx.cmdline_hash)
        assert event["type"] == "ai_model_event" and event["source"] == "ai_role"
        out.append(event["payload"])
    return out


def check_store(run: Run) -> tuple[list[str], str | None]:
    """Every snapshot with a manifest verifies; active.json points at one of them or at none."""
    settings = AiSettings.from_config(run.config)
    root = run.ai_dir / "snapshots"
    complete, _ = scan(root)
    for version in complete:
        load_snapshot(root, version, settings.features.names)
    pointer = Registry(run.ai_dir, settings.max_history).read()
    for version in (*pointer.previous, *([pointer.version] if pointer.version else [])):
        assert version in complete, f"active.json names {version}, which is not a complete snapshot"
    return complete, pointer.version


def file_states(root: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of every file under `root`."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def env_of(pid: int) -> dict[str, str]:
    """The environment a running process actually has (psutil reads it from the OS)."""
    env: dict[str, str] = psutil.Process(pid).environ()
    return env


def planted_parent_env(secrets_file: Path) -> dict[str, str]:
    """This process's environment plus secrets a careless parent might hold."""
    return {
        **os.environ,
        "BINANCE_API_KEY": "fake-key-0123456789",
        "BINANCE_API_SECRET": "fake-secret-0123456789",
        "NORE_SECRETS_FILE": str(secrets_file),
        "MY_TOOL_CONFIG": str(secrets_file),
    }
