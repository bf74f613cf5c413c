"""The trading core through the file queues: real role processes, journaling included (prints figures).

Same ticks as bench/bench_core.py (BTCUSDT + ETHUSDT trades and bookTicker, real recording), but instead of
wiring the cores in one process, strategy_role, risk_role and execution_role run as real processes
(`python -m minibot.roles.<role> --run-dir RUN_DIR`) on a run directory with the shipped config (fsync
group commit, input logs, acks, cursors, heartbeats, timing events, portfolio snapshots). A market_role
stand-in publishes every tick as fast as it can once the three roles are up; the clock runs from the first
publish until every role has consumed every line of each of its inputs (its input log covers it). The
in-process chain of bench_core.py is measured in the same run on the same ticks, and the ratio printed.

Equality: the roles consume in the canonical market-timeline order (docs/architecture.md, "The market
timeline"), so what they write must be byte for byte what `CoreChain` (minibot/backtest/chain.py) writes
on the same market_ticks journal, whatever the machine load. Each run checks it and prints the verdict; a
difference is an error (exit 1).

`--floor` measures, in this process, the CPU per tick of what the queues cannot skip: the producer's publish
(envelope, line hash, write, chain checkpoint) and each consumer's check of every line it reads (frame,
sha256, strict JSON, schema; the fail-closed validation issue 14 keeps), and prints the ticks/s that the
machine's CPUs could reach with three consumers if nothing else cost anything. Above that ceiling the goal
needs fewer checks per consumer or a faster runtime, not a better design of the roles.

Usage: python bench/bench_core_queues.py [--ticks N] [--repeat N] [--floor]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from bench.bench_core import core_run
from minibot.config.loader import load_config
from minibot.journal.context import RunContext
from minibot.journal.layout import INBOX
from minibot.journal.reader import decode_event, iter_lines
from minibot.rolenames import TRADING_CORE_ROLES
from minibot.roles.core_role import ROLE_INPUTS
from minibot.roles.runner import queue_events
from minibot.runlayout import INPUT_LOG_STEM, role_dir
from tests.core.realdata import load_ticks, merge_ticks
from tests.roles.core_run import make_run_dir, request_shutdown, start_role
from tests.roles.timeline_run import chain_outputs, role_outputs

TIMEOUT_S = 600.0
TARGET_TICKS_S = 100_000.0  # through the three role processes (issue 14, on a quiet machine)
DOWNSTREAM = ("signals", "fills", "order_results", "order_intents")


class Progress:
    """Watches the input logs and output queues incrementally (new lines only, JSON decode without schema
    checks: the roles verify what they read), so watching for the end takes little CPU from the roles."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._pos: dict[tuple[str, str], tuple[int, int]] = {}
        self.consumed: dict[tuple[str, str], int] = {}
        self.lines: dict[str, int] = {}

    def _new(self, folder: Path, stem: str) -> list[bytes]:
        segment, offset = self._pos.get((str(folder), stem), (0, 0))
        out = []
        for raw in iter_lines(folder, stem, segment, offset):
            out.append(raw.data)
            segment, offset = raw.segment, raw.end
        self._pos[(str(folder), stem)] = (segment, offset)
        return out

    def done(self, total_ticks: int) -> bool:
        """True once every role has logged every line of each of its inputs as consumed."""
        for role in TRADING_CORE_ROLES:
            for line in self._new(role_dir(self.ctx.run_dir, role), INPUT_LOG_STEM):
                batch = orjson.loads(line.split(b":", 2)[2])["payload"]
                self.consumed[(role, batch["queue"])] = batch["last_line"] + 1
        for queue in DOWNSTREAM:
            self.lines[queue] = self.lines.get(queue, 0) + len(self._new(self.ctx.queue_paths(queue).folder, INBOX))
        if any(self.consumed.get((role, "market_ticks"), 0) < total_ticks for role in TRADING_CORE_ROLES):
            return False
        return all(
            self.consumed.get((role, q), 0) >= self.lines[q]
            for role in TRADING_CORE_ROLES
            for q in ROLE_INPUTS[role]
            if q in DOWNSTREAM
        )


def queue_run(ticks: list[dict[str, Any]]) -> tuple[float, float, Counter[str], str | None]:
    """(seconds until every role consumed everything, publish seconds, output counts, the first difference
    from the in-process CoreChain or None) in a fresh run dir."""
    with tempfile.TemporaryDirectory(prefix="nore-bench-") as tmp:
        run_dir = Path(tmp)
        ctx = make_run_dir(run_dir)
        procs = [start_role(role, run_dir) for role in TRADING_CORE_ROLES]
        try:
            deadline = time.monotonic() + 60
            while {e["source"] for e in queue_events(ctx, "health")} < set(TRADING_CORE_ROLES):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise SystemExit("the role processes did not start; see <run>/<role>.out")
                time.sleep(0.05)
            producer = ctx.producer("market_ticks", "market_role")
            events = [producer.event("market_tick", t["payload"], ts=t["ts"], id_=t["id"]) for t in ticks]
            t0 = time.perf_counter()
            for i in range(0, len(events), 1000):
                producer.publish(events[i : i + 1000])
            published = time.perf_counter() - t0
            producer.close()
            deadline = time.monotonic() + TIMEOUT_S
            progress = Progress(ctx)
            while not progress.done(len(ticks)):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise SystemExit("the roles did not consume every tick in time")
                time.sleep(0.02)
            elapsed = time.perf_counter() - t0
            counts = Counter(
                e["type"] for q in ("signals", "risk_actions", "order_intents", "fills") for e in queue_events(ctx, q)
            )
            expected, got = chain_outputs(ctx, load_config()), role_outputs(ctx)
            difference = next(
                (f"{k}: {len(got[k])} lines vs {len(v)} in process" for k, v in expected.items() if got[k] != v), None
            )
        finally:
            request_shutdown(run_dir)
            for proc in procs:
                try:
                    proc.wait(timeout=60)
                except Exception:
                    proc.kill()
                    proc.wait(timeout=30)
    return elapsed, published, counts, difference


def floor(ticks: list[dict[str, Any]], repeat: int) -> list[str]:
    """Report lines: the per-tick CPU of one publish and of one consumer's check of each line (best of
    `repeat`), and the ticks/s ceiling on this machine's CPUs with three consumers (module docstring)."""
    publish_us, check_us = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="nore-floor-") as tmp:
            ctx = make_run_dir(Path(tmp))
            producer = ctx.producer("market_ticks", "market_role")
            events = [producer.event("market_tick", t["payload"], ts=t["ts"], id_=t["id"]) for t in ticks]
            t0 = time.process_time()
            for i in range(0, len(events), 1000):
                producer.publish(events[i : i + 1000])
            producer.close()
            publish_us.append((time.process_time() - t0) * 1e6 / len(ticks))
            paths = ctx.queue_paths("market_ticks")
            lines = [raw.data for raw in iter_lines(paths.folder, INBOX)]
            contract, run_id, digest = paths.contract, ctx.run_id, ctx.cmdline_hash
            t0 = time.process_time()
            for line in lines:
                decode_event(line, contract, run_id=run_id, cmdline_hash=digest)
            check_us.append((time.process_time() - t0) * 1e6 / len(lines))
    produce, check = min(publish_us), min(check_us)
    per_tick = produce + len(TRADING_CORE_ROLES) * check
    cpus = os.cpu_count() or 1
    return [
        "floor per tick (CPU, best of --repeat; in one process, nothing else running):",
        f"  publish (envelope, sha256 line, write, chain checkpoint)  {produce:5.2f} us",
        f"  one consumer's check of the line (frame, sha256, JSON, schema)  {check:5.2f} us"
        f" x {len(TRADING_CORE_ROLES)} consumers",
        f"  sum {per_tick:5.2f} us -> at most {cpus * 1e6 / per_tick:,.0f} ticks/s on {cpus} CPUs "
        f"(goal {TARGET_TICKS_S:,.0f}: {len(TRADING_CORE_ROLES) + 1} processes, perfectly parallel, no other work)",
    ]


def main() -> None:
    """Measure both, print the figures and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=0, help="use only the first N ticks (0 = all)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    ap.add_argument("--floor", action="store_true", help="also the per-tick CPU floor of publish + checks")
    args = ap.parse_args()
    # Four processes share the CPUs here, so the machine's other load weighs on the queue figure.
    print(f"machine: {os.cpu_count()} CPUs, load average {_load()}")
    ticks = merge_ticks(load_ticks("BTCUSDT", True), load_ticks("ETHUSDT", True))
    if args.ticks:
        ticks = ticks[: args.ticks]
    n = len(ticks)
    gc.collect()
    gc.disable()
    try:
        inproc_s, chain = min((core_run(ticks) for _ in range(args.repeat)), key=lambda r: r[0])
    finally:
        gc.enable()
    runs = [queue_run(ticks) for _ in range(args.repeat)]
    queue_s, publish_s, counts, _ = min(runs, key=lambda r: r[0])
    inproc_rate, queue_rate = n / inproc_s, n / queue_s
    inproc_counts = Counter(e["type"] for e in chain.events)
    print(f"ticks: {n} (BTCUSDT + ETHUSDT trades and bookTicker, real recording)")
    print(f"in-process chain (bench_core.py): {inproc_rate:,.0f} ticks/s")
    print(f"  outputs: {dict(sorted(inproc_counts.items()))}")
    print(
        f"file queues, 3 role processes, journaling: {queue_rate:,.0f} ticks/s "
        f"(market_role stand-in published at {n / publish_s:,.0f} ticks/s, overlapped)"
    )
    print(f"  outputs: {dict(sorted(counts.items()))}")
    print(f"all queue runs (s): {', '.join(f'{r[0]:.2f}' for r in runs)}")
    differences = [r[3] for r in runs if r[3] is not None]
    print(
        f"process chain outputs == in-process CoreChain outputs (byte for byte, every run): "
        f"{'yes' if not differences else 'NO: ' + differences[0]}"
    )
    if differences:
        raise SystemExit(1)
    print(
        f"ratio queues / in-process: {queue_rate / inproc_rate:.3f}  ({1e6 / queue_rate:.1f} us/tick vs "
        f"{1e6 / inproc_rate:.2f} us/tick)"
    )
    if args.floor:
        for text in floor(ticks, args.repeat):
            print(text)
    print(f"machine load now: {_load()}")
    verdict = "met" if queue_rate >= TARGET_TICKS_S else "not met"
    print(f"target core queues: {queue_rate:,.0f} ticks/s (goal >= {TARGET_TICKS_S:,.0f}): {verdict}")


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


if __name__ == "__main__":
    main()
