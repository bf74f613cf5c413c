"""The three core role processes on a pre-recorded market_ticks journal, and the in-process chain beside them.

`publish_ticks` writes the whole recording to market_ticks at once (as a finished market_role would have),
`run_roles` starts strategy, risk and execution as real processes, optionally kills a random one with kill -9
every `kill_every_s` and restarts it, waits until all three have acked the last tick and ends them.
`chain_outputs` runs `CoreChain` on the very ticks of the journal; `role_outputs` reads what the processes
wrote: both as {(role, queue): [canonical JSON bytes]}.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from minibot.backtest.chain import CoreChain
from minibot.backtest.compare import canonical, recorded_outputs
from minibot.journal.context import RunContext
from minibot.rolenames import TRADING_CORE_ROLES
from minibot.roles.core_role import TEST_DELAY_ENV, load_filters
from minibot.roles.runner import core_output_queues, queue_events
from minibot.roles.timeline import MARKET, Watermark
from tests.roles.core_run import request_shutdown, start_role


def publish_ticks(ctx: RunContext, ticks: list[dict[str, Any]]) -> int:
    """Every tick, recorded ts and id kept, in batches of 500; returns how many."""
    producer = ctx.producer(MARKET, "market_role")
    try:
        for i in range(0, len(ticks), 500):
            producer.publish(
                [producer.event("market_tick", t["payload"], ts=t["ts"], id_=t["id"]) for t in ticks[i : i + 500]]
            )
    finally:
        producer.close()
    return len(ticks)


def _start(role: str, run_dir: Path, delay_ms: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if delay_ms:
        env[TEST_DELAY_ENV] = str(delay_ms)
    return start_role(role, run_dir, env)


def run_roles(
    ctx: RunContext,
    last_line: int,
    delay_ms: int = 0,
    kill_every_s: float = 0.0,
    timeout_s: float = 400.0,
    stall_s: float = 60.0,
    seed: int = 0,
    min_kills: int = 0,
) -> int:
    """Run the three roles until each acked `last_line` of market_ticks (and, when killing, at least
    `min_kills` kills were made, the later ones maybe after the end); returns how many kills were made.
    Fails when no role moved its watermark for `stall_s`, or after `timeout_s` in all (a busy 2-core box can
    take minutes: progress, not speed, is what is checked here).

    A role is killed again only once it has acked a new line since it was (re)started, or once every role is
    done: on a busy machine a restart can take longer than `kill_every_s`, and killing a role that has not got
    going again would only starve the run, never test anything."""
    rng = random.Random(seed)
    procs = {role: _start(role, ctx.run_dir, delay_ms) for role in TRADING_CORE_ROLES}
    marks = {role: Watermark(ctx.queue_paths(MARKET), role) for role in TRADING_CORE_ROLES}
    started_at = {role: -1 for role in TRADING_CORE_ROLES}  # the role's watermark when it was (re)started
    kills = 0
    deadline = time.monotonic() + timeout_s
    next_kill = time.monotonic() + kill_every_s
    progress, progress_at = -3, time.monotonic()
    try:
        while any(mark.read() < last_line for mark in marks.values()) or kills < min_kills:
            now = time.monotonic()
            if sum(mark.line for mark in marks.values()) != progress:
                progress, progress_at = sum(mark.line for mark in marks.values()), now
            if now > deadline or now - progress_at > stall_s:
                raise AssertionError(
                    f"roles did not finish: {[(r, m.line) for r, m in marks.items()]} of {last_line} "
                    f"after {kills} kills, {now - progress_at:.0f} s without progress"
                )
            for role, proc in procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{role} exited {proc.returncode}:\n{_why(ctx.run_dir, role)}")
            done = all(mark.line >= last_line for mark in marks.values())
            ready = [r for r in TRADING_CORE_ROLES if done or marks[r].line > started_at[r]]
            if kill_every_s and time.monotonic() >= next_kill and ready:
                victim = rng.choice(ready)
                procs[victim].kill()
                procs[victim].wait(10)
                started_at[victim] = marks[victim].read()
                procs[victim] = _start(victim, ctx.run_dir, delay_ms)
                kills += 1
                next_kill = time.monotonic() + kill_every_s * (0.5 + rng.random())
            time.sleep(0.05)
        request_shutdown(ctx.run_dir)
        for role, proc in procs.items():
            assert proc.wait(30) == 0, f"{role} exit code {proc.returncode}"
    finally:
        for mark in marks.values():
            mark.close()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return kills


def _why(run_dir: Path, role: str) -> str:
    """The STOP.flag (if any) and the tail of the role's logs, for the assertion message."""
    parts = []
    flag = run_dir / "STOP.flag"
    if flag.exists():
        parts.append(f"STOP.flag: {flag.read_text(errors='replace')[:1500]}")
    for path in [run_dir / f"{role}.out", *sorted((run_dir / "logs").glob(f"{role}*"))]:
        if path.is_file():
            parts.append(f"{path.name}: {path.read_text(errors='replace')[-2000:]}")
    return "\n".join(parts)


def chain_outputs(ctx: RunContext, config: dict[str, Any]) -> dict[tuple[str, str], list[bytes]]:
    """CoreChain on the run's market_ticks journal."""
    chain = CoreChain(ctx.run_id, ctx.cmdline_hash, config, load_filters(ctx.run_dir))
    chain.run(queue_events(ctx, MARKET))
    return {
        (role, queue): [canonical(e) for e in chain.core_outputs(role, queue)]
        for role in TRADING_CORE_ROLES
        for queue in core_output_queues(role)
    }


def role_outputs(ctx: RunContext) -> dict[tuple[str, str], list[bytes]]:
    """What the role processes wrote, per role and queue."""
    return {
        (role, queue): [canonical(e) for _, e in recorded_outputs(ctx, role, queue)]
        for role in TRADING_CORE_ROLES
        for queue in core_output_queues(role)
    }
