"""The watchdog's reading of the run (watchdog_role): `health`, `stop_journal`, `risk_actions`, `timing`.

It is those queues' declared consumer (contracts.v1.json), so it reads them with full validation: a contract
or sha256 failure in any of them is itself a STOP with that failure's reason code (`timing` is only
validated and acknowledged; the metrics read it). From what it reads it keeps
- the last heartbeat of every role's current start (wall-clock monotonic time of reading it, for silence
  detection): a start is recognised by the instance token its beats carry, not by pid (a launcher may sit
  between the process started and the role's interpreter); the real pid a beat reports is handed to the
  role's `RoleProcess` (metrics, kill);
- how long health_role has reported Binance DOWN (run clock), STOP BINANCE_UNREACHABLE past
  `binance.health.unreachable_threshold_ms` (a backstop: health_role's own policy normally stops first,
  but its outage clock restarts if the process is restarted, this one does not);
- a risk_action STOP: risk_role raises the flag itself; if the flag has not appeared shortly after, the
  watchdog raises it (fail-closed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from minibot.config.binance import BinanceConfig
from minibot.contracts.registry import registry
from minibot.journal.atomic import write_critical_json
from minibot.journal.consumer import Consumer
from minibot.journal.context import RunContext
from minibot.journal.doorbell import ring_all
from minibot.journal.stop import stop_flag_path
from minibot.reasons import NoreError, ReasonCode
from minibot.rolenames import Role
from minibot.watchdog.procs import RoleProcess

RISK_STOP_GRACE_S = 2.0
Finding = tuple[ReasonCode, str]
log = logging.getLogger("nore.supervisor.watch")


class JournalWatch:
    """Consumes the watchdog's queues and remembers what the supervision decisions need."""

    def __init__(self, ctx: RunContext, cfg: Mapping[str, Any], procs: Mapping[str, RoleProcess]) -> None:
        self.ctx = ctx
        self.procs = procs
        self.threshold_ms = BinanceConfig.from_config(cfg).health.unreachable_threshold_ms
        watched = [q for q in ctx.queues.names if Role.WATCHDOG.value in registry().queues[q].consumers]
        self.consumers: dict[str, Consumer] = {q: ctx.consumer(q, Role.WATCHDOG.value) for q in watched}
        self.safety_s = ctx.queues.poll_interval_ms / 1000.0
        self._next_read = 0.0
        self.last_beat: dict[str, float] = {}
        self.down_since_ms: int | None = None
        self.stops_seen: list[dict[str, Any]] = []
        self.risk_stop: tuple[float, dict[str, Any]] | None = None
        self._handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            "health": self._on_health,
            "stop_journal": self._on_stop,
            "risk_actions": self._on_risk,
        }

    def poll(self, rung: bool = True) -> Finding | None:
        """Read everything new on the watched queues; a broken line or event is a STOP finding.

        `rung=False` (no doorbell ring since the last call: their producers ring on every append) reads
        them only at the safety net, every `queues.poll_interval_ms`, like the roles (issue 14, idle cost);
        cursor checkpoints that are due are still written."""
        now = time.monotonic()
        if not rung and now < self._next_read:
            for consumer in self.consumers.values():
                consumer.flush_if_due()
            return None
        self._next_read = now + self.safety_s
        for queue, consumer in self.consumers.items():
            try:
                records = consumer.poll()
            except NoreError as exc:
                return exc.reason_code, f"watchdog_role reading {queue}: {exc.detail}"
            handler = self._handlers.get(queue)
            for record in records:
                if handler is not None:
                    handler(record.event)
            consumer.ack()
            consumer.flush_if_due()
        return None

    def _on_health(self, event: Mapping[str, Any]) -> None:
        payload = event["payload"]
        role = str(payload["role"])
        proc = self.procs.get(role)
        if proc is None:
            self.last_beat[role] = time.monotonic()
        elif proc.owns_beat(payload):  # a beat of an earlier (killed) start does not count
            self.last_beat[role] = time.monotonic()
            proc.note_beat(payload)
        if role == Role.HEALTH.value and "probes" in payload:  # a Binance probe round, not a liveness beat
            if payload["state"] == "DOWN":
                if self.down_since_ms is None:
                    self.down_since_ms = int(event["ts"])
            else:
                self.down_since_ms = None

    def _on_stop(self, event: Mapping[str, Any]) -> None:
        self.stops_seen.append(dict(event))
        flag = stop_flag_path(self.ctx.run_dir)
        if not flag.exists():
            # Journaled but no flag (the writer died in between): raise it, or the roles would carry on.
            write_critical_json(flag, dict(event))
            ring_all(self.ctx.run_dir)
            log.error("stop_journal entry without STOP.flag: raised the flag for %s", event["payload"])

    def _on_risk(self, event: Mapping[str, Any]) -> None:
        if event["payload"]["action"] == "STOP" and self.risk_stop is None:
            self.risk_stop = (time.monotonic(), dict(event))

    def findings(self, now_ms: int) -> Finding | None:
        """STOP conditions derived from what was read (Binance down too long, an unflagged risk STOP)."""
        if self.down_since_ms is not None and now_ms - self.down_since_ms > self.threshold_ms:
            return (
                ReasonCode.BINANCE_UNREACHABLE,
                f"health_role has reported Binance DOWN for {now_ms - self.down_since_ms} ms "
                f"(binance.health.unreachable_threshold_ms={self.threshold_ms})",
            )
        pending = self.risk_stop
        if pending is None or time.monotonic() - pending[0] < RISK_STOP_GRACE_S:
            return None
        if stop_flag_path(self.ctx.run_dir).exists():
            return None
        payload = pending[1]["payload"]
        try:
            code = ReasonCode(payload["reason_code"])
        except ValueError:
            code = ReasonCode.RISK_INCONSISTENT
        return code, f"risk_action STOP without STOP.flag: {payload.get('detail', '')}"

    def close(self) -> None:
        """Commit and close the consumers."""
        for consumer in self.consumers.values():
            consumer.close()
