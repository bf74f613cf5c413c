"""From a loaded run to the report's series and lanes: equity/drawdown, Binance latency, event rates,
tick -> fill latency, role liveness and restarts, STOPs and AI model events.

The equity curve books the fills queue into `minibot.model.portfolio.Portfolio` (the executor's own
accounting) and marks open positions at every market tick's mid, in the metrics collector's merge order
(a fill's time is the running maximum of fill `ts`; at equal times ticks go first). It is sampled at most
every `span / EQUITY_SAMPLES` of run clock and right after each fill.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from minibot.metrics.report_data import RunData
from minibot.metrics.report_plots import Lane, Marker, Series
from minibot.metrics.report_svg import PALETTE, STATE_COLORS
from minibot.model.portfolio import Portfolio
from minibot.reasons import NoreError
from minibot.rolenames import Role

EQUITY_SAMPLES = 1000
RATE_BUCKETS = 180
MARKET_QUEUES = ("market_ticks", "health", "timing")
AI_COLORS = {
    "TRAINED": "#2563eb",
    "ACTIVATED": "#16a34a",
    "REJECTED": "#f59e0b",
    "ROLLED_BACK": "#dc2626",
    "REFUSED_LOAD": "#7f1d1d",
}


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest observed value with at least pct % of values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class EquityCurve:
    """Equity and drawdown (%, <= 0) over time, the final portfolio, and each closing fill's round-trip PnL."""

    equity: Series
    drawdown: Series
    portfolio: Portfolio | None = None
    trip_pnl: dict[str, float] = field(default_factory=dict)


def equity_curve(data: RunData) -> EquityCurve:
    """The curve of the run's paper account; empty when run.json names no initial cash."""
    execution = data.config.get("execution") or {}
    cash = execution.get("initial_cash")
    equity, drawdown = Series("equity", [], PALETTE[0], fill=False), Series("drawdown", [], PALETTE[1], fill=True)
    curve = EquityCurve(equity, drawdown)
    if not isinstance(cash, int | float) or isinstance(cash, bool) or cash <= 0:
        return curve
    pf = curve.portfolio = Portfolio(float(cash), str(execution.get("quote_asset", "USDT")))
    fills = data.events.get("fills", [])
    fill_time: list[int] = []
    for event in fills:
        fill_time.append(max(event["ts"], fill_time[-1]) if fill_time else event["ts"])
    ticks = data.ticks
    start, end = data.span()
    step = max(1, (end - start) // EQUITY_SAMPLES)
    next_sample = start

    def sample(ts: int) -> None:
        value = pf.equity()
        equity.points.append((ts, value))
        drawdown.points.append((ts, -max(0.0, (pf.peak_equity - value) / pf.peak_equity) * 100.0))

    sample(start)
    i = j = 0
    while i < len(ticks.ts) or j < len(fills):
        if j >= len(fills) or (i < len(ticks.ts) and ticks.ts[i] <= fill_time[j]):
            pf.mark(ticks.symbol[i], ticks.mid[i])
            if ticks.ts[i] >= next_sample:
                sample(ticks.ts[i])
                next_sample = ticks.ts[i] + step
            i += 1
        else:
            try:
                trip = pf.apply_fill(fills[j]["payload"])
            except NoreError as exc:
                # Only a damaged fills journal gets here (a line left out makes a later fill impossible):
                # the curve ends at the last fill that could be booked; the reason is listed in the report.
                data.problem(f"equity curve ends at fill {fills[j]['id']}: {exc.reason_code.value} {exc.detail}")
                curve.portfolio = None  # a partial account: the headline then shows metrics.json's figures only
                return curve
            if trip is not None:
                curve.trip_pnl[fills[j]["id"]] = trip
            sample(fill_time[j])
            j += 1
    return curve


def _probe_points(data: RunData) -> tuple[dict[str, list[tuple[int, float]]], list[Marker]]:
    per_endpoint: dict[str, list[tuple[int, float]]] = defaultdict(list)
    failures: list[Marker] = []
    for event in data.events.get("health", []):
        p = event["payload"]
        probes = p.get("probes")
        if isinstance(probes, list):
            for probe in probes:
                if not isinstance(probe, dict):
                    continue
                if probe.get("ok") and isinstance(probe.get("latency_ms"), int | float):
                    per_endpoint[str(probe.get("endpoint"))].append((event["ts"], float(probe["latency_ms"])))
                elif not probe.get("ok"):
                    failures.append(Marker(event["ts"], f"{probe.get('endpoint')} failed: {p.get('error') or ''}"))
        elif p.get("role") == Role.HEALTH.value and isinstance(p.get("latency_ms"), int | float):
            per_endpoint[str(p.get("endpoint") or "probe")].append((event["ts"], float(p["latency_ms"])))
    return dict(per_endpoint), failures


def binance_latency(data: RunData) -> tuple[list[Series], list[float], list[Marker]]:
    """Latency series per probed endpoint, every successful probe's latency, failed probes as markers."""
    per_endpoint, failures = _probe_points(data)
    series = [Series(name, points) for name, points in sorted(per_endpoint.items())]
    values = [v for points in per_endpoint.values() for _, v in points]
    return series, values, failures


def binance_lane(data: RunData) -> Lane:
    """Binance's health state over time (health_role rounds), consecutive equal states joined."""
    lane = Lane("Binance")
    rounds = [e for e in data.events.get("health", []) if e["payload"]["role"] == Role.HEALTH.value]
    end = data.span()[1]
    for index, event in enumerate(rounds):
        state = event["payload"]["state"]
        stop = rounds[index + 1]["ts"] if index + 1 < len(rounds) else max(end, event["ts"] + 1)
        if lane.intervals and lane.intervals[-1][3] == f"Binance {state}" and lane.intervals[-1][1] == event["ts"]:
            first = lane.intervals.pop()
            lane.intervals.append((first[0], stop, first[2], first[3]))
        else:
            lane.intervals.append((event["ts"], stop, STATE_COLORS.get(state, "#9ca3af"), f"Binance {state}"))
    return lane


def rates(data: RunData, queues: Sequence[str]) -> tuple[list[Series], int]:
    """Events per minute of run clock, per queue; returns the series and the bucket width (ms)."""
    start, end = data.span()
    bucket = max(60_000, math.ceil((end - start) / RATE_BUCKETS / 60_000) * 60_000)
    out = []
    for name in queues:
        stamps = data.times.get(name)
        if stamps is None or not len(stamps):
            continue
        counts = [0] * ((end - start) // bucket + 1)
        for ts in stamps:
            counts[min(len(counts) - 1, max(0, (ts - start) // bucket))] += 1
        # The last bucket may cover less than `bucket` ms: divide by the time it really covers.
        covered = [max(1000, min(bucket, end - (start + k * bucket))) for k in range(len(counts))]
        out.append(Series(name, [(start + k * bucket, c * 60_000 / covered[k]) for k, c in enumerate(counts)]))
    return out, bucket


def latencies(data: RunData, kind: str) -> list[float]:
    """latency_ms of every `timing` event of `kind`."""
    return [float(e["payload"]["latency_ms"]) for e in data.events.get("timing", []) if e["payload"]["kind"] == kind]


def role_lanes(data: RunData) -> tuple[list[Lane], dict[str, dict[str, Any]]]:
    """Per role: intervals of continuous heartbeats coloured by state, restarts as markers; plus per-role stats.

    Two heartbeats belong to one interval when the gap between them is at most 3x the role's median gap;
    a restart is a heartbeat whose uptime_s went down or whose pid or instance token changed.
    """
    by_role: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in data.events.get("health", []):
        by_role[event["payload"]["role"]].append(event)
    lanes, stats = [], {}
    for role in sorted(by_role):
        beats = sorted(by_role[role], key=lambda e: e["ts"])
        gaps = sorted(b["ts"] - a["ts"] for a, b in itertools.pairwise(beats))
        limit = max(1000, 3 * gaps[len(gaps) // 2]) if gaps else 1000
        lane = Lane(role)
        seg_start, prev = beats[0], beats[0]
        restarts = 0
        for beat in beats[1:]:
            p, q = prev["payload"], beat["payload"]
            restarted = (
                q["uptime_s"] < p["uptime_s"]
                or (p.get("pid") is not None and q.get("pid") != p.get("pid"))
                or (p.get("instance") is not None and q.get("instance") != p.get("instance"))
            )
            if restarted:
                restarts += 1
                lane.markers.append(Marker(beat["ts"], f"{role} restarted (pid {q.get('pid')})", "#111827"))
            if restarted or beat["ts"] - prev["ts"] > limit or q["state"] != seg_start["payload"]["state"]:
                _close(lane, seg_start, prev, beat if beat["ts"] - prev["ts"] <= limit else None)
                seg_start = beat
            prev = beat
        _close(lane, seg_start, prev, None)
        lanes.append(lane)
        states: dict[str, int] = defaultdict(int)
        for beat in beats:
            states[beat["payload"]["state"]] += 1
        stats[role] = {
            "heartbeats": len(beats),
            "restarts": restarts,
            "max_uptime_s": max(b["payload"]["uptime_s"] for b in beats),
            "last_state": beats[-1]["payload"]["state"],
            "states": dict(states),
        }
    return lanes, stats


def _close(lane: Lane, first: dict[str, Any], last: dict[str, Any], following: dict[str, Any] | None) -> None:
    state = first["payload"]["state"]
    end = following["ts"] if following is not None else max(last["ts"], first["ts"] + 1)
    lane.intervals.append((first["ts"], end, STATE_COLORS.get(state, "#9ca3af"), f"{lane.name} {state}"))


def stop_lanes(data: RunData) -> list[Lane]:
    """STOP events per component (injected faults as grey diamonds, real STOPs as red triangles)."""
    lanes: dict[str, Lane] = {}
    for event in data.events.get("stop_journal", []):
        p = event["payload"]
        lane = lanes.setdefault(p["component"], Lane(p["component"]))
        injected = bool(p.get("injected"))
        label = f"{p['reason_code']}{' (injected)' if injected else ''}: {p['detail']}"
        lane.markers.append(
            Marker(event["ts"], label, "#6b7280" if injected else "#dc2626", "diamond" if injected else "triangle")
        )
    return [lanes[k] for k in sorted(lanes)]


def ai_lanes(data: RunData) -> list[Lane]:
    """AI model events per action (trained snapshots, activations, rejections, rollbacks, refused loads)."""
    lanes: dict[str, Lane] = {}
    for event in data.model_events:
        p = event["payload"]
        action = p["action"]
        lane = lanes.setdefault(action, Lane(action))
        lane.markers.append(
            Marker(event["ts"], f"{action} {p['version']}: {p['reason']}", AI_COLORS.get(action, "#4b5563"), "circle")
        )
    return [lanes[a] for a in AI_COLORS if a in lanes]
