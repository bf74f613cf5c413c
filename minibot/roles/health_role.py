"""health_role: Binance health checker (R-B1) and its fail-closed policy (R-T4) as a role process.

`python -m minibot.roles.health_role --run-dir RUN_DIR` (protocol: `minibot.roles.process`, asyncio loop:
`minibot.roles.async_loop`). It runs `minibot.market.health.HealthChecker`: ping + time every
`binance.health.interval_s`, exchangeInfo every `binance.health.exchange_info_interval_s` (run-clock
seconds), and publishes one `health` event per round for role "health_role": state OK / DEGRADED / DOWN,
latency_ms and endpoint (the first failed probe, else the ping), error, plus every probe of the round,
clock skew, the error share and the latency samples per endpoint (p50 / p95 over the last probes).

When the policy decides STOP (no successful probe for `unreachable_threshold_ms`, error share above
its threshold, a 418 ban), `run()` raises it with BINANCE_UNREACHABLE / BINANCE_ERROR_RATE / BINANCE_BANNED
and the loop journals the STOP (exit `ExitCode.STOPPED`). Thresholds are run-clock durations. Every request is
journaled in `<run>/market/requests.jsonl`.
"""

from __future__ import annotations

import sys
from typing import Any

from minibot.config.binance import BinanceConfig
from minibot.market.health import HealthChecker, HealthPolicy, ProbeResult
from minibot.market.rest import JOURNALED_LOG_SIZE, BinanceRest
from minibot.reasons import ReasonCode
from minibot.rolenames import Role
from minibot.roles.async_loop import PolicyRole, async_role_main
from minibot.roles.latency_samples import LatencySamples
from minibot.roles.process import Heartbeat, RoleEnv
from minibot.roles.request_journal import RequestJournal

ROLE = Role.HEALTH.value
_OWN_FIELDS = frozenset({"role", "state", "uptime_s"})


class HealthRole(PolicyRole):
    """One REST client, one policy, one checker; driven by `run_async_loop`."""

    def __init__(self, env: RoleEnv, heartbeat: Heartbeat) -> None:
        super().__init__()
        self.env = env
        self.heartbeat = heartbeat
        cfg = BinanceConfig.from_config(env.config)
        clock = env.clock
        self.requests = RequestJournal(env.ctx, ROLE)
        self.rest = BinanceRest(
            cfg.rest_base_url, cfg.rest_timeout_s, cfg.weight_limit, clock, self.requests.append, JOURNALED_LOG_SIZE
        )
        self.rest.weights.slow_fraction = cfg.weight_slow_fraction
        policy = HealthPolicy.for_run(cfg, clock)
        self.latency = LatencySamples(cfg.health.error_rate_window)
        self.checker = HealthChecker(
            self.rest,
            policy,
            clock,
            self._on_health,
            cfg.health.interval_s,
            cfg.health.exchange_info_interval_s,
            cfg.symbols,
            on_latency=self._on_latency,
            on_stop=self._on_stop,
            max_skew_ms=cfg.health.max_clock_skew_ms,
            role=ROLE,
        )
        env.log.info(
            "health_role: probing %s every %s s (exchangeInfo every %s s), unreachable threshold %d ms",
            cfg.rest_base_url,
            cfg.health.interval_s,
            cfg.health.exchange_info_interval_s,
            cfg.health.unreachable_threshold_ms,
        )

    def _on_latency(self, result: ProbeResult) -> None:
        self.latency.add(result.endpoint, result.latency_ms)

    def _on_health(self, payload: dict[str, Any]) -> None:
        self._state = str(payload["state"])
        extra = {k: v for k, v in payload.items() if k not in _OWN_FIELDS}
        extra["latency"] = self.latency.summary()
        self.heartbeat.beat(self._state, force=True, **extra)
        if self._state != "OK":
            self.env.log.warning("binance %s: %s", self._state, payload.get("error", ""))

    async def _work(self) -> ReasonCode | None:
        """Probe until `finish()`."""
        return await self.checker.run()

    async def finish(self) -> None:
        """Make the checker return after its current round."""
        await self.checker.close()

    def tick(self) -> float | None:
        """Journal the requests made since the last tick (no deadline of its own)."""
        self.requests.flush()
        return None

    async def _release(self) -> None:
        """Close the HTTP session and the request journal."""
        try:
            await self.rest.close()
        finally:
            self.requests.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m minibot.roles.health_role --run-dir RUN_DIR`."""
    return async_role_main(ROLE, HealthRole, argv)


if __name__ == "__main__":
    sys.exit(main())
