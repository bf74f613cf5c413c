"""Binance health: a pure policy (R-T4) and the async checker loop that feeds it (R-B1).

Policy, all times on the run clock:
- a probe is OK, a transport failure (no HTTP answer: refused, timeout, reset), an HTTP error answer
  (5xx, 429, 4xx, a body off the documented shape), or a ban (418);
- state: DOWN once the last `down_after` probes all failed; DEGRADED after any other failure, a slow
  probe, or a degradation note (malformed frames, stale stream, unfilled gap, clock skew); OK otherwise.
  A failure shorter than the thresholds is therefore DEGRADED/DOWN, then OK again once probes succeed;
- STOP BINANCE_UNREACHABLE when no probe has succeeded for `threshold_ms` (default 180 s; counted from
  the start while none ever succeeded);
- STOP BINANCE_ERROR_RATE when HTTP error answers make up more than `error_rate_threshold` of the last
  `window` probes. The share is over the window's full size, not over the probes seen so far, so a
  burst of errors right after start is judged like one later on;
- STOP BINANCE_BANNED at the first ban: calling on into a ban only lengthens it.
A STOP is final: every later verdict repeats it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from minibot.clock import RunClock
from minibot.config.binance import BinanceConfig
from minibot.market.clock_skew import ClockSkew, measure_skew
from minibot.market.errors import Banned, HttpError, MarketError, TransportError
from minibot.market.rest import BinanceRest
from minibot.reasons import ReasonCode
from minibot.rolenames import Role

State = Literal["OK", "DEGRADED", "DOWN"]
ProbeKind = Literal["ok", "transport", "http", "banned"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One health probe: the endpoint, its outcome, when (run clock) and its wall-clock latency."""

    endpoint: str
    kind: ProbeKind
    ts: int
    latency_ms: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the endpoint answered as documented."""
        return self.kind == "ok"


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    """The policy's judgement: a state, and a STOP reason once one applies."""

    state: State
    stop: ReasonCode | None = None
    detail: str | None = None


class HealthPolicy:
    """Pure state machine over probe results: no clock, no I/O (time comes with each result)."""

    def __init__(
        self,
        start_ms: int,
        threshold_ms: int = 180_000,
        error_rate_threshold: float = 0.5,
        window: int = 120,
        down_after: int = 3,
        slow_latency_ms: float | None = None,
    ) -> None:
        if threshold_ms <= 0 or window <= 0 or down_after <= 0 or not 0.0 < error_rate_threshold <= 1.0:
            raise ValueError("health thresholds must be positive and the error rate in (0, 1]")
        self.threshold_ms = threshold_ms
        self.error_rate_threshold = error_rate_threshold
        self.window = window
        self.down_after = down_after
        self.slow_latency_ms = slow_latency_ms
        self.last_ok_ms = start_ms  # until a first success, the outage clock runs from the start
        self.ever_ok = False
        self.failure_streak = 0
        self._http_errors: deque[bool] = deque(maxlen=window)
        self._notes: list[str] = []
        self._slow = False
        self._last_error: str | None = None
        self._stop: HealthVerdict | None = None

    @classmethod
    def for_run(cls, cfg: BinanceConfig, clock: RunClock) -> HealthPolicy:
        """The policy of the `binance` config section, starting now on `clock`."""
        return cls(
            clock.now_ms(),
            cfg.health.unreachable_threshold_ms,
            cfg.health.error_rate_threshold,
            cfg.health.error_rate_window,
            cfg.health.down_after_failures,
            # slow_latency_ms is run-clock; probe latencies are real milliseconds.
            slow_latency_ms=cfg.health.slow_latency_ms / clock.speed,
        )

    @property
    def error_rate(self) -> float:
        """HTTP error answers among the last `window` probes, over the window's full size."""
        return sum(self._http_errors) / self.window

    def note(self, detail: str) -> None:
        """A degradation seen elsewhere (stream, gaps, skew): the next verdict is at least DEGRADED."""
        self._notes.append(detail)

    def record(self, result: ProbeResult) -> HealthVerdict:
        """Feed one probe result; returns the verdict after it."""
        if self._stop is not None:
            return self._stop
        if result.kind == "banned":
            self._stop = HealthVerdict("DOWN", ReasonCode.BINANCE_BANNED, f"{result.endpoint}: {result.error}")
            return self._stop
        self._http_errors.append(result.kind == "http")
        if result.ok:
            self.last_ok_ms = max(self.last_ok_ms, result.ts)
            self.ever_ok = True
            self.failure_streak = 0
            self._slow = self.slow_latency_ms is not None and (result.latency_ms or 0.0) > self.slow_latency_ms
        else:
            self.failure_streak += 1
            self._last_error = f"{result.endpoint}: {result.error}"
        if self.error_rate > self.error_rate_threshold:
            self._stop = HealthVerdict(
                "DOWN",
                ReasonCode.BINANCE_ERROR_RATE,
                f"error rate {self.error_rate:.2f} > {self.error_rate_threshold} over the last "
                f"{self.window} probes; last: {self._last_error}",
            )
            return self._stop
        return self.verdict(result.ts)

    def verdict(self, now_ms: int) -> HealthVerdict:
        """The state at `now_ms`, without consuming notes (also checks the outage clock)."""
        if self._stop is not None:
            return self._stop
        outage = now_ms - self.last_ok_ms
        if self.failure_streak > 0 and outage >= self.threshold_ms:
            since = "since the start" if not self.ever_ok else f"for {outage} ms"
            self._stop = HealthVerdict(
                "DOWN",
                ReasonCode.BINANCE_UNREACHABLE,
                f"no successful probe {since} (threshold {self.threshold_ms} ms); last: {self._last_error}",
            )
            return self._stop
        if self.failure_streak >= self.down_after:
            return HealthVerdict("DOWN", None, self._last_error)
        if self.failure_streak > 0:
            return HealthVerdict("DEGRADED", None, self._last_error)
        if self._notes:
            return HealthVerdict("DEGRADED", None, "; ".join(self._notes[-5:]))
        if self._slow:
            return HealthVerdict("DEGRADED", None, f"slow probe (> {self.slow_latency_ms} ms)")
        return HealthVerdict("OK")

    def take_notes(self) -> list[str]:
        """Notes gathered since the last call (the checker reports each once)."""
        notes, self._notes = self._notes, []
        return notes


async def probe(endpoint: str, call: Callable[[], Awaitable[Any]], clock: RunClock) -> tuple[ProbeResult, Any]:
    """Run one REST call as a probe: classify its outcome and time it on the wall clock."""
    started_ms = clock.now_ms()
    started = time.perf_counter()
    try:
        value = await call()
    except Banned as exc:
        return ProbeResult(endpoint, "banned", started_ms, None, exc.detail), None
    except TransportError as exc:
        return ProbeResult(endpoint, "transport", started_ms, None, exc.detail), None
    except (HttpError, MarketError) as exc:
        return ProbeResult(endpoint, "http", started_ms, None, exc.detail), None
    latency = (time.perf_counter() - started) * 1000.0
    return ProbeResult(endpoint, "ok", started_ms, latency), value


class HealthChecker:
    """Every `interval_s` ping + time, every `exchange_info_interval_s` exchangeInfo (run-clock seconds,
    rounded to a whole number of rounds; the first round includes it).

    Calls `on_health` with a `health` payload after every round, `on_latency` with every probe, and
    `on_stop(reason, detail)` once when the policy decides STOP; `run` returns that reason.
    """

    def __init__(
        self,
        rest: BinanceRest,
        policy: HealthPolicy,
        clock: RunClock,
        on_health: Callable[[dict[str, Any]], None],
        interval_s: float = 5.0,
        exchange_info_interval_s: float = 300.0,
        symbols: Sequence[str] = (),
        on_latency: Callable[[ProbeResult], None] | None = None,
        on_stop: Callable[[ReasonCode, str], None] | None = None,
        skew: ClockSkew | None = None,
        max_skew_ms: int = 1000,
        role: str = Role.HEALTH.value,
    ) -> None:
        self.rest = rest
        self.policy = policy
        self.clock = clock
        self.on_health = on_health
        self.interval_ms = interval_s * 1000.0
        # exchangeInfo rides on the round cadence (every k-th round) so its period cannot drift or jitter.
        self.exchange_info_every = max(1, round(exchange_info_interval_s / interval_s))
        self.symbols = list(symbols)
        self.on_latency = on_latency
        self.on_stop = on_stop
        self.skew = skew if skew is not None else ClockSkew()
        self.max_skew_ms = max_skew_ms
        self.role = role
        self.started_ms = clock.now_ms()
        self.rounds = 0
        self.last_payload: dict[str, Any] | None = None
        self._closing = asyncio.Event()

    def note(self, detail: str) -> None:
        """Report a degradation seen outside the probes; it shows in the next health event."""
        self.policy.note(detail)

    async def close(self) -> None:
        """Make `run` return after the current round."""
        self._closing.set()

    async def run(self) -> ReasonCode | None:
        """Probe until closed (returns None) or until the policy decides STOP (returns its reason)."""
        next_round = float(self.clock.now_ms())
        while not self._closing.is_set():
            verdict = await self.round()
            if verdict.stop is not None:
                if self.on_stop is not None:
                    self.on_stop(verdict.stop, verdict.detail or "")
                return verdict.stop
            # Rounds keep a fixed cadence: a slow probe does not push every later round back.
            next_round += self.interval_ms
            delay = max(0.0, next_round - self.clock.now_ms())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.clock.real_seconds(delay))
        return None

    async def _time_probe(self) -> None:
        self.skew.add(await measure_skew(self.rest, self.clock))

    async def round(self) -> HealthVerdict:
        """One round of probes -> policy -> one `health` payload; returns the verdict."""
        now = self.clock.now_ms()
        results: list[ProbeResult] = []
        retry_wait = self.rest.weights.retry_until_ms - now
        if retry_wait > 0:
            # Sending during Retry-After is what turns a 429 into a ban: skip this round's probes.
            self.policy.note(f"rate limited by Binance: {retry_wait} ms of Retry-After left")
        else:
            calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                ("/api/v3/ping", self.rest.ping),
                ("/api/v3/time", self._time_probe),
            ]
            if self.rounds % self.exchange_info_every == 0:
                calls.append(("/api/v3/exchangeInfo", lambda: self.rest.exchange_info(self.symbols or None)))
            for endpoint, call in calls:
                result, _ = await probe(endpoint, call, self.clock)
                results.append(result)
                if self.on_latency is not None:
                    self.on_latency(result)
                if result.kind == "banned" or self.rest.weights.retry_until_ms > self.clock.now_ms():
                    break  # a ban or a fresh Retry-After: the rest of the round would only wait or be refused
        skew = self.skew.estimate_ms
        if skew is not None:
            self.rest.weights.server_offset_ms = skew
            if self.skew.exceeds(self.max_skew_ms):
                self.policy.note(f"clock skew {skew} ms exceeds {self.max_skew_ms} ms")
        verdict: HealthVerdict | None = None
        for result in results:
            verdict = self.policy.record(result)
        if verdict is None:
            verdict = self.policy.verdict(self.clock.now_ms())
        notes = self.policy.take_notes()
        self.rounds += 1
        self.last_payload = self._payload(verdict, results, notes, skew)
        self.on_health(self.last_payload)
        return verdict

    def _payload(
        self, verdict: HealthVerdict, results: list[ProbeResult], notes: list[str], skew: int | None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "role": self.role,
            "state": verdict.state,
            "uptime_s": round(max(0, self.clock.now_ms() - self.started_ms) / 1000.0, 3),
        }
        failed = next((r for r in results if not r.ok), None)
        shown = failed or (results[0] if results else None)
        if shown is not None:
            payload["endpoint"] = shown.endpoint
            if shown.latency_ms is not None:
                payload["latency_ms"] = round(shown.latency_ms, 3)
        error = verdict.detail if verdict.state != "OK" else None
        if error is None and notes:
            error = "; ".join(notes[-5:])
        if error:
            payload["error"] = error[:500]
        if verdict.stop is not None:
            payload["stop_reason"] = verdict.stop.value
        payload["probes"] = [
            {
                "endpoint": r.endpoint,
                "ok": r.ok,
                "latency_ms": None if r.latency_ms is None else round(r.latency_ms, 3),
            }
            for r in results
        ]
        if skew is not None:
            payload["clock_skew_ms"] = skew
            payload["clock_skew_bound_ms"] = self.skew.bound_ms
        payload["error_rate"] = round(self.policy.error_rate, 4)
        return payload
