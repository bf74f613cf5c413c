"""The checks of bench/chaos.py, made on a run folder after the run, independently of the run's own code
paths where that is cheap: lines re-hashed here, ids, causes and quantities counted here. The project's
own verdicts (`nore journal verify`, `nore replay`, `nore verify`) are run as separate commands.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from minibot.journal.atomic import read_critical_json
from minibot.journal.layout import QueuePaths
from minibot.runlayout import STOP_FLAG

ROOT = Path(__file__).resolve().parents[1]
PREFIX = b"sha256:"
# Queues a later stage of the graceful ending reads after the stage that writes them has ended: after a
# clean end their consumer has read every line (inputs, not lost). order_results and fills flow back to
# risk_role / ai_role, which have ended by then (docs/operations.md), so they are not counted.
FORWARD = {
    "market_ticks": ("strategy_role", "risk_role", "execution_role", "ai_role"),
    "signals": ("risk_role",),
    "order_intents": ("execution_role",),
    "ai_recommendations": ("strategy_role",),
}


@dataclass
class RunCheck:
    """What one run's folder shows."""

    lines: int = 0
    bad_lines: list[str] = field(default_factory=list)
    torn_tails: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    bad_critical: list[str] = field(default_factory=list)
    critical_files: int = 0
    counts: Counter[str] = field(default_factory=Counter)


def events(run_dir: Path, queue: str) -> list[dict[str, Any]]:
    """Every whole line of a queue's inbox segments, decoded (hash checked by `check_lines`)."""
    out = []
    folder = run_dir / "queues" / queue
    for path in sorted(folder.glob("inbox*.jsonl")):
        for line in path.read_bytes().split(b"\n")[:-1]:
            try:
                out.append(json.loads(line[len(PREFIX) + 65 :]))
            except ValueError:
                continue
    return out


def check_lines(run_dir: Path, check: RunCheck) -> None:
    """Every line of every `*.jsonl` of the run is framed and its sha256 matches; a last line without its
    newline is a torn tail (a write cut by the kill, repaired by the next writer), anything else damage."""
    for path in sorted(run_dir.rglob("*.jsonl")):
        data = path.read_bytes()
        lines = data.split(b"\n")
        if lines[-1]:
            check.torn_tails.append(f"{path.relative_to(run_dir)}: {len(lines[-1])} bytes without a newline")
        for n, line in enumerate(lines[:-1], start=1):
            check.lines += 1
            digest, sep, payload = line[len(PREFIX) :].partition(b":")
            if not line.startswith(PREFIX) or not sep or hashlib.sha256(payload).hexdigest().encode() != digest:
                check.bad_lines.append(f"{path.relative_to(run_dir)}:{n}")


def check_critical(run_dir: Path, check: RunCheck) -> None:
    """Every critical JSON file (every `*.json` of the run, and STOP.flag) is whole and matches its hash."""
    paths = [p for p in sorted(run_dir.rglob("*.json")) if p.is_file()]
    if (run_dir / STOP_FLAG).exists():
        paths.append(run_dir / STOP_FLAG)
    for path in paths:
        check.critical_files += 1
        try:
            read_critical_json(path)
        except Exception as exc:  # any failure to read it whole is what this check counts
            check.bad_critical.append(f"{path.relative_to(run_dir)}: {exc}")


def check_ids(run_dir: Path, check: RunCheck) -> None:
    """No event id twice in the whole run."""
    ids: Counter[str] = Counter()
    for path in sorted((run_dir / "queues").rglob("inbox*.jsonl")):
        for line in path.read_bytes().split(b"\n")[:-1]:
            try:
                ids[json.loads(line[len(PREFIX) + 65 :])["id"]] += 1
            except (ValueError, KeyError):
                continue
    check.duplicated += [f"event id {i} written {n} times" for i, n in ids.items() if n > 1]


def _qty(value: Any) -> Decimal:
    return Decimal(repr(float(value)))


def check_causes(run_dir: Path, stopped: bool, check: RunCheck) -> None:
    """One output per cause where the design says so: each signal gets one order_intent or one risk_action
    REJECT; each order_intent one order_result; each order's fills sum to its reported fill, no fill twice.
    After a STOP, inputs left unanswered are the STOP's (not lost); duplicates count always."""
    intents = events(run_dir, "order_intents")
    risk_out = Counter(e["payload"]["cause_id"] for e in [*intents, *events(run_dir, "risk_actions")])
    signals = events(run_dir, "signals")
    for sig in signals:
        n = risk_out[sig["id"]]
        if n > 1:
            check.duplicated.append(f"signal {sig['id']}: {n} risk outputs")
        elif n == 0 and not stopped:
            check.lost.append(f"signal {sig['id']}: no order_intent or risk_action")
    results = events(run_dir, "order_results")
    check.counts.update(signals=len(signals), intents=len(intents), results=len(results))
    answers = Counter(r["payload"]["cause_id"] for r in results)
    for intent in intents:
        n = answers[intent["id"]]
        if n > 1:
            check.duplicated.append(f"order_intent {intent['id']}: {n} order_results")
        elif n == 0 and not stopped:
            check.lost.append(f"order_intent {intent['id']}: no order_result")
    filled: dict[str, Decimal] = {}
    for r in results:
        p = r["payload"]
        filled[p["order_id"]] = max(filled.get(p["order_id"], Decimal(0)), _qty(p["filled_qty"]))
    booked: dict[str, Decimal] = {}
    legs: Counter[tuple[Any, ...]] = Counter()
    for f in events(run_dir, "fills"):
        check.counts["fills"] += 1
        p = f["payload"]
        booked[p["order_id"]] = booked.get(p["order_id"], Decimal(0)) + _qty(p["qty"])
        legs[(p["order_id"], p["cause_id"], p["price"], p["qty"], p["liquidity"])] += 1
    check.duplicated += [f"fill {k} written {n} times" for k, n in legs.items() if n > 1]
    for order in sorted(set(filled) | set(booked)):
        if filled.get(order) != booked.get(order, Decimal(0)) and (order in filled or not stopped):
            check.lost.append(
                f"order {order}: results say {filled.get(order)} filled, fills sum to {booked.get(order)}"
            )


def _consumed(run_dir: Path, queue: str, consumer: str) -> int:
    """Lines a consumer has committed: its cursor, or further its acks journal (the durable record)."""
    paths = QueuePaths.of(run_dir / "queues", queue)
    cursor = paths.cursor(consumer)
    line = int(read_critical_json(cursor)["line"]) if cursor.exists() else 0
    for path in sorted(paths.folder.glob("acks*.jsonl")):
        for raw in path.read_bytes().split(b"\n")[:-1]:
            p = json.loads(raw[len(PREFIX) + 65 :])["payload"]
            if p.get("consumer") == consumer:
                line = max(line, int(p["last_line"]) + 1)
    return line


def check_consumed(run_dir: Path, roles: set[str], stopped: bool, check: RunCheck) -> None:
    """After a clean end every forward input has been read; a cursor never points past its queue."""
    for queue, consumers in FORWARD.items():
        total = len(events(run_dir, queue))
        for consumer in consumers:
            if consumer not in roles:
                continue
            done = _consumed(run_dir, queue, consumer)
            if done > total:
                check.lost.append(f"{queue}: {consumer} consumed {done} of {total} lines (cursor past the queue)")
            elif done < total and not stopped:
                check.lost.append(f"{queue}: {consumer} left {total - done} of {total} lines unread")


def nore(*args: str, timeout_s: float = 600.0) -> tuple[int, str]:
    """`python -m minibot ARGS` in its own process: exit code and output."""
    done = subprocess.run(
        [sys.executable, "-m", "minibot", *args], capture_output=True, text=True, timeout=timeout_s, cwd=ROOT
    )
    return done.returncode, done.stdout + done.stderr


def stop_reason(run_dir: Path) -> str | None:
    """The reason code in STOP.flag, if the run STOPped."""
    flag = run_dir / STOP_FLAG
    if not flag.exists():
        return None
    try:
        return str(read_critical_json(flag)["payload"]["reason_code"])
    except Exception as exc:  # a damaged flag is itself a finding; its reason cannot be read
        return f"unreadable STOP.flag ({type(exc).__name__})"
