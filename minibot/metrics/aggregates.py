"""Folding journal events into R-N2 figures: role liveness, Binance requests, STOPs, counters, latencies.

Each class takes events one at a time (from the collector's tails, or from a full read in `nore verify`)
and reports plain JSON-safe dicts. Definitions are in docs/metrics.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from minibot.metrics.stats import Samples

MAX_LISTED = 50  # silent gaps / STOPs listed one by one; the counts are always complete


@dataclass
class _Role:
    heartbeats: int = 0
    first_ms: int = 0
    last_ms: int = 0
    last_state: str = ""
    last_pid: int | None = None
    last_instance: str | None = None
    last_uptime_s: float = 0.0
    restarts: int = 0
    alive_ms: int = 0
    max_gap_ms: int = 0
    silent_gaps: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    restarts_recorded: int = 0


class Heartbeats:
    """Liveness of every role from its `health` events (run-clock `ts`).

    A new incarnation of a role (a restart) shows as a different instance token (`instance`, given per start
    by the supervisor), a different `pid` or an `uptime_s` that went down.
    Time between two heartbeats counts as alive when the gap is at most `silent_ms`; a longer gap is a
    silent gap, `restored` when the heartbeat that ends it comes from a new incarnation.
    """

    def __init__(self, silent_ms: float) -> None:
        self.silent_ms = silent_ms
        self.roles: dict[str, _Role] = {}

    def add(self, ts: int, payload: dict[str, Any]) -> None:
        """One `health` event (the watchdog's beats name a role it restarted in `restarted_role`)."""
        restarted = payload.get("restarted_role")
        if isinstance(restarted, str):
            self.roles.setdefault(restarted, _Role(heartbeats=0)).restarts_recorded += 1
        name = str(payload["role"])
        role = self.roles.get(name)
        pid = payload.get("pid")
        instance = payload.get("instance")
        uptime = float(payload["uptime_s"])
        if role is None or role.heartbeats == 0:
            role = self.roles.setdefault(name, _Role())
            role.first_ms = role.last_ms = ts
        else:
            new_incarnation = (
                (instance is not None and role.last_instance is not None and instance != role.last_instance)
                or (pid is not None and role.last_pid is not None and pid != role.last_pid)
                or uptime < role.last_uptime_s
            )
            role.restarts += int(new_incarnation)
            gap = ts - role.last_ms
            role.max_gap_ms = max(role.max_gap_ms, gap)
            if gap <= self.silent_ms:
                role.alive_ms += gap
            else:
                role.silent_gaps += 1
                if len(role.gaps) < MAX_LISTED:
                    role.gaps.append(
                        {"from_ms": role.last_ms, "to_ms": ts, "gap_s": gap / 1000.0, "restored": new_incarnation}
                    )
        role.heartbeats += 1
        role.last_ms = ts
        role.last_state = str(payload["state"])
        role.last_pid = pid if pid is not None else role.last_pid
        role.last_instance = instance if isinstance(instance, str) else role.last_instance
        role.last_uptime_s = uptime
        role.states[role.last_state] += 1

    def summary(self, start_ms: int, end_ms: int) -> dict[str, dict[str, Any]]:
        """Per role: heartbeats, restarts seen, alive time and share of the run, gaps, last state."""
        span = max(1, end_ms - start_ms)
        out: dict[str, dict[str, Any]] = {}
        for name, r in sorted(self.roles.items()):
            if not r.heartbeats:
                out[name] = {"heartbeats": 0, "restarts_recorded_by_watchdog": r.restarts_recorded}
                continue
            out[name] = {
                "heartbeats": r.heartbeats,
                "first_heartbeat_ms": r.first_ms,
                "last_heartbeat_ms": r.last_ms,
                "last_state": r.last_state,
                "last_pid": r.last_pid,
                "states": dict(sorted(r.states.items())),
                "restarts_seen": r.restarts,
                "restarts_recorded_by_watchdog": r.restarts_recorded,
                "alive_s": r.alive_ms / 1000.0,
                "alive_pct": min(100.0, r.alive_ms / span * 100.0),
                "max_gap_s": r.max_gap_ms / 1000.0,
                "silent_gaps": r.silent_gaps,
                "gaps": list(r.gaps),
                "since_last_heartbeat_s": max(0, end_ms - r.last_ms) / 1000.0,
            }
        return out


class _Endpoint:
    __slots__ = ("errors", "latency", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latency = Samples()

    def add(self, latency_ms: float, error: bool, answered: bool) -> None:
        self.requests += 1
        self.errors += int(error)
        if answered:
            self.latency.add(latency_ms)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.errors / self.requests if self.requests else None,
            "latency_ms": self.latency.summary(),
        }


class BinanceRequests:
    """Every REST request NORE sent (`http_request` events of market/requests.jsonl).

    An error is a request without an HTTP answer (status null: transport error or refused locally), with a
    status >= 400, or with an `error` text. Latency is the wall-clock round trip of answered requests.
    """

    def __init__(self) -> None:
        self.total = _Endpoint()
        self.endpoints: dict[str, _Endpoint] = {}
        self.by_role: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()

    def add(self, payload: dict[str, Any]) -> None:
        """One `http_request` payload."""
        status = payload.get("status")
        error = status is None or int(status) >= 400 or bool(payload.get("error"))
        latency = float(payload["latency_ms"])
        self.total.add(latency, error, status is not None)
        self.endpoints.setdefault(str(payload["path"]), _Endpoint()).add(latency, error, status is not None)
        self.by_role[str(payload["role"])] += 1
        self.statuses["none" if status is None else str(status)] += 1

    def summary(self) -> dict[str, Any]:
        """Totals, latency percentiles overall and per endpoint (path), error counts, requests per role."""
        doc = self.total.summary()
        doc["latency_label"] = "wall-clock round trip, ms (real time even under --speed)"
        doc["endpoints"] = {path: ep.summary() for path, ep in sorted(self.endpoints.items())}
        doc["by_role"] = dict(sorted(self.by_role.items()))
        doc["statuses"] = dict(sorted(self.statuses.items()))
        return doc


class Stops:
    """Every `stop_journal` event: count, reasons, injected or not, and the share of the night they cost."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.count = 0
        self.injected = 0
        self.reasons: Counter[str] = Counter()
        self.first_ms: int | None = None

    def add(self, event: dict[str, Any]) -> None:
        """One `stop_journal` envelope."""
        p = event["payload"]
        self.count += 1
        self.injected += int(p.get("injected") is True)
        self.reasons[str(p["reason_code"])] += 1
        ts = int(event["ts"])
        self.first_ms = ts if self.first_ms is None else min(self.first_ms, ts)
        if len(self.events) < MAX_LISTED:
            self.events.append(
                {
                    "ts": ts,
                    "id": event["id"],
                    "source": event["source"],
                    "component": p["component"],
                    "reason_code": p["reason_code"],
                    "detail": p["detail"],
                    "injected": p.get("injected") is True,
                }
            )

    def summary(self, start_ms: int, duration_ms: int) -> dict[str, Any]:
        """count / injected / not_injected, reasons, and `share`: the part of the planned run lost to STOP.

        share = (planned end - first STOP) / planned duration, clamped to [0, 1]; 0 without a STOP. A STOP
        halts paper trading for the rest of the run, so this is the fraction of the night not traded.
        """
        share = 0.0
        if self.first_ms is not None and duration_ms > 0:
            share = min(1.0, max(0.0, (start_ms + duration_ms - self.first_ms) / duration_ms))
        return {
            "count": self.count,
            "injected": self.injected,
            "not_injected": self.count - self.injected,
            "reasons": dict(sorted(self.reasons.items())),
            "first_ms": self.first_ms,
            "share": share,
            "share_definition": "fraction of the planned run duration after the first STOP (0 = none)",
            "events": list(self.events),
        }


class Timings:
    """`timing` events: wall-clock latency per kind (tick_to_fill is the end-to-end one)."""

    def __init__(self) -> None:
        self.kinds: dict[str, Samples] = {}

    def add(self, payload: dict[str, Any]) -> None:
        """One `timing` payload."""
        self.kinds.setdefault(str(payload["kind"]), Samples()).add(float(payload["latency_ms"]))

    def summary(self) -> dict[str, Any]:
        """Percentiles per kind (wall-clock ms)."""
        return {kind: samples.summary() for kind, samples in sorted(self.kinds.items())}
