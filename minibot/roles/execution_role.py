"""execution_role: `python -m minibot.roles.execution_role --run-dir RUN_DIR`.

Reads order_intents and market_ticks (in that order), runs `ExecutionCore(filters from exchange_info.json,
config["execution"])`, writes `fill`s and `order_result`s (and `stop_journal` on a foreign intent) with ids
derived from their causes. Never talks to Binance.

Beside the core, the process keeps `roles/execution_role/portfolio.json` (minibot.roles.portfolio_snapshot:
checked against the fills journal on restart, rewritten every minute of run clock and at shutdown) and
publishes `timing` events `tick_to_fill`, the pipeline latency of each fill (minibot.roles.fill_timing). Both run
after each batch (timing also on the idle flush tick, for fills awaiting a group commit), outside the core,
so replay stays exact. The kill switch halts the core as in every core role (minibot.roles.core_role).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.execution import ExecutionCore
from minibot.rolenames import Role
from minibot.roles.core_role import CoreRole, execution_core, load_filters
from minibot.roles.fill_timing import FillTimer
from minibot.roles.portfolio_snapshot import PortfolioSnapshots
from minibot.roles.process import RoleEnv, RoleLoop, role_main

ROLE = Role.EXECUTION.value


class ExecutionRole(CoreRole):
    """The executor's runner plus its portfolio snapshot and tick -> fill timing."""

    def __init__(self, env: RoleEnv, core: ExecutionCore) -> None:
        super().__init__(env, core, self._after_batch)
        self.snapshots = PortfolioSnapshots(env.ctx, ROLE, core.portfolio, env.log)
        producers = self.runner.producers
        self.timer = FillTimer(ROLE, env.ctx.run_id, producers["timing"], producers["fills"])

    def _after_batch(
        self, queue: str, inputs: list[Mapping[str, Any]], outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        self.timer.on_batch(queue, inputs, outputs)
        self.snapshots.on_fills(outputs.get("fills", []))

    def flush_if_due(self) -> None:
        """Group commit of every queue file, then the timing of the fills it made durable."""
        super().flush_if_due()
        self.timer.publish_durable()

    def close(self) -> None:
        """Write the final snapshot, then halt (if stopped) and close like every core role."""
        self.timer.close()
        self.env.log.info("%s: %d fills timed, %d not", ROLE, self.timer.published, self.timer.untimed)
        try:
            self.snapshots.write()
        finally:
            super().close()


def build(env: RoleEnv) -> RoleLoop:
    """The execution role on its run's queues (restart checks included)."""
    return ExecutionRole(env, execution_core(env.config, load_filters(env.run_dir)))


def main(argv: list[str] | None = None) -> int:
    """Process entry point; returns the exit code (minibot.roles.process)."""
    return role_main(ROLE, build, argv)


if __name__ == "__main__":
    raise SystemExit(main())
