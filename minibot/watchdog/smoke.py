"""runtime_smoke (R-Q1), a row of `nore gates`: a short real `nore run --sim`, then its run directory checked.

The run is the real thing: `python -m minibot run --sim --duration 3m --speed 30 --var WORKDIR/var` as a child
process (every role a process, the embedded simulator on 127.0.0.1), about 15 s of wall time. The gate then
requires, failing on the first problem with what was found:
- the run ended cleanly (exit 0, no STOP);
- every configured queue exists with its R-A2 files (inbox.jsonl, acks.jsonl, deadletter.jsonl,
  cursor.json);
- at least one `market_tick` and one `health` event;
- no order request: the simulator saw no order/account/signed request (`sim_stats.json`), and the client's
  request journal holds public GETs only (checked by verify);
- `nore verify RUN_DIR` exits 0 with verdict PASS (every sha256 JSONL line, schema, id, ack and cursor
  valid; roles alive; Binance within thresholds; PnL consistent).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from minibot.config.views import QueuesConfig
from minibot.gates.base import GateFailed
from minibot.journal.atomic import read_critical_json
from minibot.journal.layout import DEADLETTER, INBOX
from minibot.runlayout import RUN_FILE, SIM_STATS_FILE

DURATION = "3m"
SPEED = "30"
RUN_TIMEOUT_S = 240.0
VERIFY_TIMEOUT_S = 120.0
R_A2_FILES = (f"{INBOX}.jsonl", "acks.jsonl", f"{DEADLETTER}.jsonl", "cursor.json")


def _nore(args: list[str], timeout_s: float, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m minibot ARGS` as a child process (spawned; the same on Windows)."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "minibot", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise GateFailed(f"`nore {' '.join(args)}` did not finish within {timeout_s:.0f} s") from None


def _run_dir(stdout: str) -> Path:
    for line in stdout.splitlines():
        if line.startswith("run_dir: "):
            return Path(line[len("run_dir: ") :].strip())
    raise GateFailed(f"nore run printed no 'run_dir:' line; output: {stdout.strip()[-300:]!r}")


def _check_queues(run_dir: Path, run: dict[str, Any]) -> None:
    queues = QueuesConfig.from_config(run["config"])
    for name in queues.names:
        folder = run_dir / queues.base_dir / name
        missing = [f for f in R_A2_FILES if not (folder / f).is_file()]
        if missing:
            raise GateFailed(f"queue {name}: {missing} missing in {folder}")


def _check_orders(run_dir: Path) -> int:
    path = run_dir / SIM_STATS_FILE
    if not path.is_file():
        raise GateFailed(f"{path} does not exist: the simulator's view of the requests was not saved")
    stats = read_critical_json(path)
    if stats.get("violations_total") != 0 or stats.get("violations"):
        raise GateFailed(f"the simulator recorded order/account requests: {stats.get('violations')}")
    return int(stats.get("requests_total", 0))


def runtime_smoke_gate(workdir: Path) -> str:
    """Run the smoke run in `workdir` and check it; the one-line detail on PASS, GateFailed otherwise."""
    started = time.monotonic()
    run = _nore(
        ["run", "--sim", "--duration", DURATION, "--speed", SPEED, "--var", str(workdir / "var")],
        RUN_TIMEOUT_S,
        workdir,
    )
    if run.returncode != 0:
        tail = " | ".join(run.stdout.strip().splitlines()[-4:] or run.stderr.strip().splitlines()[-4:])
        raise GateFailed(f"nore run --sim exited {run.returncode}: {tail}")
    wall_s = time.monotonic() - started
    run_dir = _run_dir(run.stdout)
    run_doc = read_critical_json(run_dir / RUN_FILE)
    _check_queues(run_dir, run_doc)
    sim_requests = _check_orders(run_dir)
    verify = _nore(["verify", "--json", str(run_dir)], VERIFY_TIMEOUT_S, workdir)
    try:
        verdict = orjson.loads(verify.stdout)
    except orjson.JSONDecodeError:
        raise GateFailed(
            f"nore verify --json printed no JSON (exit {verify.returncode}): {verify.stderr[-300:]!r}"
        ) from None
    counts = verdict.get("metrics", {}).get("counts", {})
    for queue in ("market_ticks", "health"):
        if not counts.get(queue):
            raise GateFailed(f"the run produced no event on {queue}")
    if verify.returncode != 0 or verdict.get("verdict") != "PASS":
        first = (verdict.get("reasons") or [{"code": "?", "detail": "no reason given"}])[0]
        raise GateFailed(
            f"nore verify {verdict.get('verdict')} (exit {verify.returncode}): {first['code']} {first['detail']}"
        )
    return (
        f"{DURATION} --sim run at speed {SPEED} ({wall_s:.0f} s wall): {counts['market_ticks']} market_ticks, "
        f"{counts['health']} health, {sim_requests} simulator requests, 0 order requests, nore verify PASS "
        f"({verdict.get('lines_checked')} lines)"
    )
