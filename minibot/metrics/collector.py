"""The R-N2 metrics of a run: `metrics.json` (atomic, self-hashed) and `metrics/snapshots.jsonl`.

The supervisor owns one `MetricsCollector` per run and calls `poll(now_ms, roles)` from its loop: the
collector reads, read-only, what was appended to the queues, their acks and `market/requests.jsonl` since
the previous call, folds it into the figures, and rewrites `metrics.json` every `metrics.interval_s`
(run clock); every `metrics.snapshot_interval_s` it also appends the same document as a
`metrics_snapshot` event to `metrics/snapshots.jsonl`. `write(final=True)` at the end of the run writes
both. Figures and their definitions: docs/metrics.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from minibot.config.views import MetricsConfig, QueuesConfig, RunSettings, WatchdogConfig
from minibot.contracts.envelope import build_envelope, encode_event, ts_iso
from minibot.contracts.registry import registry
from minibot.ids import random_id
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.layout import INBOX, QueuePaths
from minibot.journal.segments import FsyncPolicy, SegmentAppender
from minibot.liveness import silent_after_run_ms
from minibot.metrics.aggregates import BinanceRequests, Heartbeats, Stops, Timings
from minibot.metrics.latency import OrderArrivals, latency_section
from minibot.metrics.pnl import Fill, PnlTracker, Tick, fill_of, tick_of
from minibot.metrics.processes import ProcessSampler
from minibot.metrics.tail import JournalTail
from minibot.model.config import ExecutionConfig
from minibot.reasons import NoreError
from minibot.rolenames import Role
from minibot.runlayout import METRICS_DIR, METRICS_FILE, REQUESTS_DIR, REQUESTS_STEM, RUN_FILE, SNAPSHOTS_STEM

SOURCE = Role.WATCHDOG.value  # contracts.v1.json: metrics/snapshots.jsonl is written by the watchdog (supervisor)
METRICS_SCHEMA = "nore.metrics"
METRICS_VERSION = 1


def _get(status: Any, name: str) -> Any:
    """A field of the supervisor's role status: a mapping or an object with attributes."""
    return status.get(name) if isinstance(status, Mapping) else getattr(status, name, None)


class MetricsCollector:
    """Incremental R-N2 metrics of one run directory.

    strict=True (the live supervisor): a journal line that does not verify raises its NoreError (the run
    must STOP; metrics cannot be proven). strict=False (`nore verify`): such lines are skipped and counted
    in `skipped_lines`, because verify reports them itself and still wants the figures.
    """

    def __init__(self, run_dir: Path, config: Mapping[str, Any] | None = None, *, strict: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.strict = strict
        self.run = read_critical_json(self.run_dir / RUN_FILE)
        self.config: Mapping[str, Any] = config if config is not None else self.run["config"]
        self.run_id: str = self.run["run_id"]
        self.cmdline_hash: str = self.run["cmdline_hash"]
        self.start_ms = int(self.run["clock"]["start_ms"])
        self.duration_ms = RunSettings.from_config(self.config).duration_ms
        mcfg = MetricsConfig.from_config(self.config)
        self.interval_ms = mcfg.interval_s * 1000.0
        self.snapshot_interval_ms = mcfg.snapshot_interval_s * 1000.0
        identity = {"run_id": self.run_id, "cmdline_hash": self.cmdline_hash} if strict else {}
        queues = QueuesConfig.from_config(self.config)
        queues_dir = self.run_dir / queues.base_dir
        known = registry().queues
        self.queue_names = [q for q in queues.names if q in known]
        self._queues: dict[str, JournalTail] = {}
        self._acks: dict[tuple[str, str], JournalTail] = {}
        for name in self.queue_names:
            paths = QueuePaths.of(queues_dir, name)
            self._queues[name] = JournalTail(paths.folder, INBOX, paths.contract, strict=strict, **identity)
            for consumer in paths.contract.consumers:
                stem = paths.acks_stem(consumer)
                self._acks[(name, consumer)] = JournalTail(paths.folder, stem, strict=strict, **identity)
        self._read_order = sorted(self._queues.items(), key=lambda item: item[0] != "fills")  # see update()
        self._acked: dict[tuple[str, str], int] = dict.fromkeys(self._acks, 0)
        self._requests = JournalTail(self.run_dir / REQUESTS_DIR, REQUESTS_STEM, strict=strict, **identity)
        self.silent_ms = silent_after_run_ms(
            WatchdogConfig.from_config(self.config).silent_after_s, float(self.run["clock"]["speed"])
        )
        self.heartbeats = Heartbeats(self.silent_ms)
        self.binance = BinanceRequests()
        self.stops = Stops()
        self.timings = Timings()
        self.arrivals = OrderArrivals()
        self.risk_actions: Counter[str] = Counter()
        self.risk_reasons: Counter[str] = Counter()
        self.order_results: Counter[str] = Counter()
        ex = ExecutionConfig.from_config(self.config)
        self.pnl = PnlTracker(ex.initial_cash, ex.quote_asset, history=self._pnl_history)
        self._sampler = ProcessSampler()
        self._roles: dict[str, dict[str, Any]] = {}
        self.now_ms = self.start_ms
        self.last_event_ms = self.start_ms
        self._last_write_ms: int | None = None
        self._last_snapshot_ms = self.start_ms
        self._snapshots: SegmentAppender | None = None
        self.latest: dict[str, Any] | None = None  # the last document written (what Prometheus serves)

    @property
    def path(self) -> Path:
        """Where metrics.json goes."""
        return self.run_dir / METRICS_FILE

    # ---- reading ---------------------------------------------------------------------------------
    def update(self, now_ms: int | None, roles: Mapping[str, Any] | None = None) -> None:
        """Read everything appended since the last call; record the supervisor's view of the roles.

        `now_ms`: the run clock now; None (offline, `nore verify`) means the `ts` of the newest event read.
        `roles`: role -> {pid, started_ms, restarts, alive} (a mapping or an object with those attributes).
        """
        # Fills before ticks: a backlog (a backtest's or `nore verify`'s whole read) then gives the PnL tracker
        # every fill before the ticks that pass it, so folding ticks as they come never leaves a fill older
        # than the checkpoint (which would make it read the journals again).
        for name, tail in self._read_order:
            for event in tail.events():
                self.last_event_ms = max(self.last_event_ms, int(event["ts"]))
                self._fold(name, event)
        self.now_ms = self.last_event_ms if now_ms is None else int(now_ms)
        for key, tail in self._acks.items():
            for event in tail.events():
                self._acked[key] = int(event["payload"]["last_line"]) + 1
        for event in self._requests.events():
            self.binance.add(event["payload"])
        if roles is not None:
            self._sample_roles(roles)

    def _fold(self, queue: str, event: dict[str, Any]) -> None:
        p = event["payload"]
        if queue == "market_ticks":
            self.pnl.add_tick(*tick_of(event))
        elif queue == "fills":
            self.pnl.add_fill(*fill_of(event))
        elif queue == "health":
            self.heartbeats.add(int(event["ts"]), p)
        elif queue == "stop_journal":
            self.stops.add(event)
        elif queue == "risk_actions":
            self.risk_actions[str(p["action"])] += 1
            self.risk_reasons[str(p["reason_code"])] += 1
        elif queue == "order_results":
            self.order_results[str(p["result"])] += 1
            self.arrivals.add_result(event)
        elif queue == "order_intents":
            self.arrivals.add_intent(event)
        elif queue == "timing":
            self.timings.add(p)

    def _pnl_history(self) -> tuple[Iterator[Tick], Iterator[Fill]]:
        """Every market_tick and fill from the first line, read again from the queues (a PnL start-over):
        the tracker keeps only what is newer than its checkpoint."""
        ticks = self._queues.get("market_ticks")
        fills = self._queues.get("fills")
        return (
            (tick_of(e) for e in (ticks.rewound().events() if ticks is not None else ())),
            (fill_of(e) for e in (fills.rewound().events() if fills is not None else ())),
        )

    def _sample_roles(self, roles: Mapping[str, Any]) -> None:
        """The supervisor's view per role, plus RSS / CPU of its live process. A process that has ended
        keeps its last sample (`sampled_ms` says when) and the peak RSS seen over the run."""
        pids: set[int] = set()
        for name, status in roles.items():
            pid = _get(status, "pid")
            alive = bool(_get(status, "alive"))
            started = _get(status, "started_ms")
            previous = self._roles.get(name, {})
            entry: dict[str, Any] = {
                "alive": alive,
                "pid": pid,
                "restarts": _get(status, "restarts"),
                "started_ms": started,
                "uptime_s": max(0, self.now_ms - int(started)) / 1000.0 if alive and started is not None else 0.0,
                "rss_mb": previous.get("rss_mb"),
                "cpu_pct": previous.get("cpu_pct"),
                "peak_rss_mb": previous.get("peak_rss_mb"),
                "sampled_ms": previous.get("sampled_ms"),
            }
            if alive and pid is not None:
                pids.add(int(pid))
                sample = self._sampler.sample(int(pid))
                if sample["rss_mb"] is not None:
                    peak = entry["peak_rss_mb"]
                    entry.update(sample, sampled_ms=self.now_ms, peak_rss_mb=max(peak or 0.0, sample["rss_mb"]))
                else:
                    entry["process_error"] = sample["process_error"]
            self._roles[name] = entry
        self._sampler.forget_except(pids)

    # ---- the document ----------------------------------------------------------------------------
    @property
    def skipped_lines(self) -> int:
        """Lines skipped in lenient mode (0 when strict)."""
        tails = [*self._queues.values(), *self._acks.values(), self._requests]
        return sum(len(t.skipped) for t in tails)

    def coverage(self) -> dict[str, Any]:
        """How many lines of each journal the figures cover (verify recomputes on exactly these)."""
        return {
            "queues": {name: tail.lines for name, tail in self._queues.items()},
            "requests": self._requests.lines,
        }

    def metrics(self, final: bool = False) -> dict[str, Any]:
        """The R-N2 document as of the last `update`."""
        configured = self.config["execution"].get("latency_ms")
        doc: dict[str, Any] = {
            "schema": METRICS_SCHEMA,
            "v": METRICS_VERSION,
            "run_id": self.run_id,
            "cmdline_hash": self.cmdline_hash,
            "now_ms": self.now_ms,
            "now_iso": ts_iso(self.now_ms),
            "start_ms": self.start_ms,
            "elapsed_s": max(0, self.now_ms - self.start_ms) / 1000.0,
            "duration_ms": self.duration_ms,
            "final": final,
            "coverage": self.coverage(),
            "roles": self._role_figures(),
            "binance": self.binance.summary(),
            "counts": {name: tail.lines for name, tail in self._queues.items()},
            "risk_actions": {
                "by_action": dict(sorted(self.risk_actions.items())),
                "by_reason": dict(sorted(self.risk_reasons.items())),
            },
            "order_results": dict(sorted(self.order_results.items())),
            "latency": latency_section(self.timings.summary(), self.arrivals.samples.summary(), configured),
            "queue_lag": self._lag(),
            "pnl": self._pnl_figures(),
            "stops": self.stops.summary(self.start_ms, self.duration_ms),
            "skipped_lines": self.skipped_lines,
        }
        ai = self.run_dir / str(self.config["ai"]["dir"]) / METRICS_FILE
        if ai.exists():
            doc["ai"] = self._ai_metrics(ai)
        return doc

    def _ai_metrics(self, path: Path) -> dict[str, Any]:
        """ai_role's own metrics. A damaged file raises NonAtomicWrite (T3) when strict and is reported in the
        section when lenient; a read refused while ai_role replaces the file (Windows sharing violation) is
        shown as an error in the section and read again next time."""
        try:
            data: dict[str, Any] = read_critical_json(path)
        except OSError as exc:
            return {"error": f"{path} not readable just now: {exc}"}
        except NoreError as exc:
            if self.strict:
                raise
            return {"error": f"{exc.reason_code.value}: {exc.detail}"}
        return data

    def _pnl_figures(self) -> dict[str, Any]:
        """PnL figures; fills that do not add up (a SELL of more than is held) raise when strict, and are
        reported in the section when lenient."""
        try:
            return self.pnl.figures()
        except NoreError as exc:
            if self.strict:
                raise
            return {"error": f"{exc.reason_code.value}: {exc.detail}"}

    def _role_figures(self) -> dict[str, dict[str, Any]]:
        beats = self.heartbeats.summary(self.start_ms, self.now_ms)
        roles: dict[str, dict[str, Any]] = {}
        for name in sorted(set(beats) | set(self._roles)):
            roles[name] = {**self._roles.get(name, {}), **beats.get(name, {"heartbeats": 0})}
        return roles

    def _lag(self) -> dict[str, dict[str, dict[str, int]]]:
        lag: dict[str, dict[str, dict[str, int]]] = {}
        for (queue, consumer), acked in self._acked.items():
            lines = self._queues[queue].lines
            lag.setdefault(queue, {})[consumer] = {"acked": acked, "lag": max(0, lines - acked)}
        return lag

    # ---- writing ---------------------------------------------------------------------------------
    def write(self, final: bool = False) -> dict[str, Any]:
        """Rewrite metrics.json atomically; append a snapshot when one is due (always when `final`).

        Between ends the file only shows progress, so a write a scanner blocks is logged and skipped (the
        next one catches up); the final one must be written, or the run ends in FILE_REPLACE_FAILED."""
        doc = self.metrics(final)
        write_critical_json(self.path, doc, best_effort=not final)
        self.latest = doc
        self._last_write_ms = self.now_ms
        if final or self.now_ms - self._last_snapshot_ms >= self.snapshot_interval_ms:
            self._append_snapshot(doc)
        return doc

    def poll(self, now_ms: int, roles: Mapping[str, Any] | None = None) -> bool:
        """`update`, then `write` when `metrics.interval_s` has passed since the last write (or never
        written); returns whether metrics.json was written."""
        self.update(now_ms, roles)
        if self._last_write_ms is not None and self.now_ms - self._last_write_ms < self.interval_ms:
            return False
        self.write()
        return True

    def _append_snapshot(self, doc: dict[str, Any]) -> None:
        if self._snapshots is None:
            folder = self.run_dir / METRICS_DIR
            folder.mkdir(parents=True, exist_ok=True)
            self._snapshots = SegmentAppender(folder, SNAPSHOTS_STEM, FsyncPolicy("always"), 64 << 20)
        envelope = build_envelope(
            type_="metrics_snapshot",
            payload={"metrics": doc},
            ts=self.now_ms,
            id_=random_id(),
            source=SOURCE,
            run_id=self.run_id,
            cmdline_hash=self.cmdline_hash,
        )
        self._snapshots.append(encode_event(envelope))
        self._last_snapshot_ms = self.now_ms

    def close(self) -> None:
        """Close the snapshots journal."""
        if self._snapshots is not None:
            self._snapshots.close()
            self._snapshots = None
