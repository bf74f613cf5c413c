"""What the three core role processes share: their inputs, their core built from the run, the kill switch.

strategy_role, risk_role and execution_role are each a `RoleRunner` around one pure core, driven by the
role-process loop (`minibot.roles.process`). The core is built only from what the run recorded: the config
in `run.json` and the exchange filters in `exchange_info.json` (written by the supervisor's preflight), so
`nore replay` can build the very same core later (`build_core` is shared with it).

Kill switch: when STOP.flag exists the process halts (process.py) and, before it does, `CoreRole` calls the
core's `halt(reason)` (risk and execution cores have one): from then on the core REJECTs every signal or
intent with KILL_SWITCH and never fills a resting order, so no code path after the flag can produce an
order. The runner processes no input after the flag is seen, so the recorded outputs stay a pure function of
the input log and replay stays exact.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from minibot.contracts.core import Core
from minibot.contracts.registry import registry
from minibot.execution import ExecutionCore
from minibot.journal.atomic import read_critical_json
from minibot.journal.doorbell import Ringer, watermark_ring
from minibot.journal.stop import is_stopped, read_stop
from minibot.model.config import ExecutionConfig, StrategyConfig
from minibot.model.filters import SymbolFilters, filters_from_exchange_info
from minibot.reasons import ConfigInvalid
from minibot.risk import RiskCore
from minibot.rolenames import TRADING_CORE_ROLES, Role
from minibot.roles.process import RoleEnv, RoleLoop, control_of, role_main
from minibot.roles.runner import BatchHook, RoleRunner
from minibot.roles.schedule import MUTED, SPARSE, Schedule, StrategySchedule, watchers
from minibot.roles.timeline import MARKET
from minibot.roles.timeline_schedule import ExecutionSchedule, RiskSchedule
from minibot.roles.wake import Rings
from minibot.runlayout import EXCHANGE_INFO_FILE
from minibot.strategies import StrategyCore
from minibot.strategies.bars import BarCloses

# Each role's input queues in the fixed order the runner polls them (each must list the role as a consumer
# in contracts.v1.json; a test checks it).
ROLE_INPUTS: Mapping[str, tuple[str, ...]] = {
    Role.STRATEGY.value: ("market_ticks", "ai_recommendations"),
    Role.RISK.value: ("signals", "fills", "order_results", "market_ticks"),
    Role.EXECUTION.value: ("order_intents", "market_ticks"),
}
TEST_DELAY_ENV = "NORE_TEST_ROLE_DELAY_MS"


def load_filters(run_dir: Path) -> dict[str, SymbolFilters]:
    """Exchange filters from `<run>/exchange_info.json` (the raw exchangeInfo response, as a critical JSON).

    Raises ConfigInvalid when the file is missing or lists no usable symbol, NonAtomicWrite when damaged.
    """
    path = Path(run_dir) / EXCHANGE_INFO_FILE
    if not path.exists():
        raise ConfigInvalid(f"{path} is missing: the supervisor's preflight writes it before the roles start")
    doc = read_critical_json(path)
    if not isinstance(doc, Mapping):
        raise ConfigInvalid(f"{path}: expected the exchangeInfo JSON object, got {type(doc).__name__}")
    filters = filters_from_exchange_info(doc)
    if not filters:
        raise ConfigInvalid(f"{path}: no symbol carries both PRICE_FILTER and LOT_SIZE filters")
    return filters


def execution_core(config: Mapping[str, Any], filters: Mapping[str, SymbolFilters]) -> ExecutionCore:
    """The paper executor from the run's config."""
    return ExecutionCore(filters, config["execution"])


def build_core(role: str, config: Mapping[str, Any], filters: Mapping[str, SymbolFilters]) -> Core:
    """A fresh core for `role` from the run's config (the `strategy`, `risk`, `execution` sections)."""
    if role == Role.STRATEGY.value:
        return StrategyCore(config["strategy"])
    if role == Role.RISK.value:
        return RiskCore(config["risk"], ExecutionConfig.from_config(config).initial_cash, filters)
    if role == Role.EXECUTION.value:
        return execution_core(config, filters)
    raise ConfigInvalid(f"{role!r} is not a core role; expected one of {', '.join(TRADING_CORE_ROLES)}")


def make_schedule(runner: RoleRunner, core: Core, config: Mapping[str, Any], ending: Callable[[], bool]) -> Schedule:
    """The schedule of `runner.role` (minibot/roles/schedule.py); `ending`: whether the run asked it to end."""
    closes = BarCloses(StrategyConfig.from_config(config).bar_interval_ms)
    if isinstance(core, RiskCore):
        return RiskSchedule(runner, core, closes, ExecutionConfig.from_config(config))
    if isinstance(core, ExecutionCore):
        return ExecutionSchedule(runner, core)
    return StrategySchedule(runner, closes, runner.ctx.queues.poll_interval_ms / 1000.0, ending)


def check_inputs(role: str) -> None:
    """Every input queue of `role` must name it as a consumer in contracts.v1.json."""
    queues = registry().queues
    for name in ROLE_INPUTS[role]:
        if name not in queues or role not in queues[name].consumers:
            raise ConfigInvalid(f"contracts.v1.json: queue {name!r} does not list {role} as a consumer")


class CoreRole:
    """One core role inside its process: the runner, plus the kill switch applied to the core."""

    def __init__(self, env: RoleEnv, core: Core, after_batch: BatchHook | None = None) -> None:
        check_inputs(env.role)
        self.env = env
        self.core = core
        self.runner = RoleRunner(env.ctx, env.role, core, list(ROLE_INPUTS[env.role]), after_batch)
        # STOP.flag and the shutdown files as of this round (re-read after a control ring or at the safety net).
        self.control = control_of(env, env.waker)
        self.schedule = make_schedule(self.runner, core, env.config, lambda: self.control.shutdown)
        self._idle_s = env.ctx.queues.poll_interval_ms / 1000.0
        # The roles whose schedule waits for this role's market_ticks watermark: rung when it advances.
        self._watchers = Ringer(env.run_dir, watchers(env.role), ring=watermark_ring(env.role))
        self._market = self.runner.by_queue[MARKET]
        self._bell = env.waker.bell if env.waker is not None else None
        self._muted = MUTED.get(env.role, ())
        self._sparse = SPARSE.get(env.role, ())
        self._lazy: frozenset[str] = frozenset()  # the queues muted on top of `_muted` (`_mute_lazy`)
        self._relook = False
        if self._bell is not None:
            self._bell.mute(self._muted, self._sparse)
        # Test-only: a random pause of up to this many ms after every round, to show that the outputs do
        # not depend on how the roles are scheduled (tests/roles/test_timeline.py). Unset in real runs.
        self._test_delay_s = float(os.environ.get(TEST_DELAY_ENV, "0") or 0) / 1000.0
        self._rng = random.Random()
        self._paused = False
        self.runner.stop_probe = self._stopped
        if self.runner.recovered_outputs:
            env.log.warning("%s: restart recovery wrote %d missing outputs", env.role, self.runner.recovered_outputs)

    def _stopped(self) -> bool:
        self.control.refresh()
        return self.control.stopped

    def halt_if_stopped(self) -> bool:
        """If STOP.flag exists, halt the core (when it can be halted); returns whether it exists."""
        if not (self.runner.halted or self._stopped()):
            return False
        halt = getattr(self.core, "halt", None)
        if halt is not None:
            held = read_stop(self.env.run_dir) if is_stopped(self.env.run_dir) else {}
            payload = held.get("payload", {})
            halt(f"STOP.flag: {payload.get('reason_code', 'unknown')} from {held.get('source', 'unknown')}")
        return True

    def run_once(self) -> int:
        """One round of the schedule; halts the core as soon as STOP.flag is seen.

        A role asked to end while its schedule holds inputs back for a peer's watermark reports itself busy
        (after an idle pause), so the end of the run does not cut the market timeline short."""
        self._paused = False
        if self.halt_if_stopped():
            return 0
        mark = self._market.committed.line
        count = self.schedule.run_once()
        if self._market.committed.line != mark:
            self._watchers.ring()
        self._mute_lazy()
        if self._test_delay_s:
            time.sleep(self._rng.random() * self._test_delay_s)
        if self.halt_if_stopped():
            return count
        if count == 0 and self.control.shutdown and self.schedule.waiting():
            self._pause()  # a peer's progress rings this role
            self._paused = True
            return 1
        return count

    def skips(self, rings: Rings) -> bool:
        """Whether a wake-up by `rings` alone needs no round (the schedule's `skips`)."""
        return self.schedule.skips(rings)

    def _mute_lazy(self) -> None:
        """Mute the queues the schedule leaves to its safety net as things stand, unmute them when that ends
        (execution_role and market_ticks while no order is open: no ring, no wake-up per tick)."""
        lazy = self.schedule.lazy_now()
        if lazy == self._lazy or self._bell is None:
            return
        self._bell.mute((*self._muted, *sorted(lazy)), self._sparse)
        # A producer reads the doorbell file at its next ring: an append it made before that rang nobody,
        # so a role that unmutes looks again at once (minibot/journal/doorbell.py `Ringer.ring`).
        self._relook = self._relook or bool(self._lazy - lazy)
        self._lazy = lazy

    def backlog(self) -> bool:
        """An input left unread by the last round, a queue unmuted by it, or a pause for a peer at the end of
        the run: go on at once."""
        relook, self._relook = self._relook, False
        return relook or self._paused or self.runner.backlog()

    def _pause(self) -> None:
        if self.env.waker is None:
            time.sleep(self._idle_s)
        else:
            self.env.waker.pause(self._idle_s)

    def flush_if_due(self) -> None:
        """Group-commit tick of every queue file."""
        self.runner.flush_if_due()

    def close(self) -> None:
        """Halt the core if the run is stopped, then flush and close every file."""
        self.halt_if_stopped()
        self.schedule.close()
        self.runner.close()


def build_role(env: RoleEnv) -> RoleLoop:
    """The core role `env.role` on its run's queues (strategy_role and risk_role need nothing more)."""
    return CoreRole(env, build_core(env.role, env.config, load_filters(env.run_dir)))


def core_role_main(role: str, argv: list[str] | None = None) -> int:
    """Entry point of `python -m minibot.roles.<role> --run-dir RUN_DIR` for strategy_role and risk_role."""
    return role_main(role, build_role, argv)
