"""Everything the night report shows, read from a run directory's real files in one pass per journal.

Sources: run.json, metrics.json, metrics/snapshots.jsonl, every queue's inbox (fills, health, stop_journal,
timing, risk_actions, ai_recommendations, ...), ai/model_events.jsonl and STOP.flag. Lines are decoded with
the full check (framing, sha256, envelope, payload schema); a line that fails is listed under the report's
data problems and skipped for the plots (the verdict at the top, from `nore verify`, judges the run).
Market ticks are reduced while reading (timestamps and mids only) so a 7-hour run fits in memory.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from sys import intern
from typing import Any

from minibot.contracts.registry import registry
from minibot.journal.atomic import read_critical_json
from minibot.journal.layout import INBOX
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.segments import segment_path
from minibot.reasons import NoreError
from minibot.runlayout import METRICS_FILE, MODEL_EVENTS_STEM, RUN_FILE, SNAPSHOTS_JOURNAL, STOP_FLAG

MAX_PROBLEMS = 50
MODEL_EVENTS = Path("ai") / f"{MODEL_EVENTS_STEM}.jsonl"
_KEPT = ("fills", "health", "stop_journal", "timing", "risk_actions", "order_results")


@dataclass
class Ticks:
    """Market ticks reduced to what the equity curve needs."""

    ts: array[int] = field(default_factory=lambda: array("q"))
    symbol: list[str] = field(default_factory=list)
    mid: array[float] = field(default_factory=lambda: array("d"))


@dataclass
class RunData:
    """The loaded run. `events[q]` holds full events only for the queues in `_KEPT`."""

    run_dir: Path
    run: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    stop_flag: dict[str, Any] | None = None
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    model_events: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    times: dict[str, array[int]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    ticks: Ticks = field(default_factory=Ticks)
    # client_order_id -> mid of the quote the order was decided on (its order_intent's bid/ask).
    decision_mid: dict[str, float] = field(default_factory=dict)
    # order_intent id -> its ts (market time of the decision), for the modelled order latency.
    decided_ts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    def problem(self, text: str) -> None:
        """Note a file or line the report could not use."""
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    @property
    def config(self) -> dict[str, Any]:
        """The config the run used (empty when run.json is unreadable)."""
        cfg = (self.run or {}).get("config")
        return cfg if isinstance(cfg, dict) else {}

    def span(self) -> tuple[int, int]:
        """(start, end) on the run clock: run start to the newest event (at least start + 1 s)."""
        clock = (self.run or {}).get("clock") or {}
        stamps = [t for arr in self.times.values() if len(arr) for t in (arr[0], arr[-1])]
        stamps += [e["ts"] for e in self.model_events + self.snapshots]
        recorded = clock.get("start_ms")
        start: int = recorded if isinstance(recorded, int) else min(stamps, default=0)
        end: int = max([start, *stamps])
        return start, max(end, start + 1000)


def _critical(data: RunData, path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        doc = read_critical_json(path)
    except NoreError as exc:
        data.problem(f"{path}: {exc.reason_code.value} {exc.detail}")
        return None
    except OSError as exc:
        data.problem(f"{path}: unreadable ({exc})")
        return None
    if not isinstance(doc, dict):
        data.problem(f"{path}: expected a JSON object inside the critical file")
        return None
    return doc


def iter_journal(data: RunData, folder: Path, stem: str) -> Iterator[dict[str, Any]]:
    """Every valid event of a segmented journal, streamed; bad lines become problems."""
    line: dict[int, int] = {}  # segment -> line number, for messages
    try:
        for raw in iter_lines(folder, stem):
            number = line[raw.segment] = line.get(raw.segment, 0) + 1
            try:
                yield decode_event(raw.data)[1]
            except NoreError as exc:
                where = segment_path(folder, stem, raw.segment)
                data.problem(f"{where}:{number} ({raw.start}): {exc.reason_code.value} {exc.detail}")
    except NoreError as exc:
        data.problem(f"{folder / stem}: {exc.reason_code.value} {exc.detail}")


def _read_queue(data: RunData, folder: Path, name: str) -> None:
    stamps: array[int] = array("q")
    kept: list[dict[str, Any]] = []
    keep = name in _KEPT
    ticks = data.ticks
    for event in iter_journal(data, folder, INBOX):
        stamps.append(event["ts"])
        if keep:
            kept.append(event)
        elif name == "market_ticks":  # the bulk of a run: keep only what the equity curve needs
            p = event["payload"]
            ticks.ts.append(event["ts"])
            ticks.symbol.append(intern(p["symbol"]))  # one string per symbol, not one per tick (~56 bytes)
            ticks.mid.append((p["bid"] + p["ask"]) * 0.5)
        elif name == "order_intents":  # a fill's paper slippage is measured against its decision's mid
            p = event["payload"]
            data.decision_mid[str(p["client_order_id"])] = (p["bid"] + p["ask"]) * 0.5
            data.decided_ts[str(event["id"])] = int(event["ts"])
    data.times[name] = stamps
    data.counts[name] = len(stamps)
    if keep:
        data.events[name] = kept


def load_run(run_dir: Path) -> RunData:
    """Read a run directory (files that are missing simply give empty sections)."""
    run_dir = Path(run_dir)
    data = RunData(run_dir)
    data.run = _critical(data, run_dir / RUN_FILE)
    data.metrics = _critical(data, run_dir / METRICS_FILE)
    data.stop_flag = _critical(data, run_dir / STOP_FLAG)
    base = run_dir / str((data.config.get("queues") or {}).get("base_dir", "queues"))
    for name in registry().queues:
        if (base / name).is_dir():
            _read_queue(data, base / name, name)
    data.snapshots = list(iter_journal(data, (run_dir / SNAPSHOTS_JOURNAL).parent, SNAPSHOTS_JOURNAL.stem))
    data.model_events = list(iter_journal(data, (run_dir / MODEL_EVENTS).parent, MODEL_EVENTS.stem))
    return data
