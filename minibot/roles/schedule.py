"""In which order a core role processes its inputs: the canonical market-timeline order, gated by watermarks.

The order is defined by the in-process chain (minibot/backtest/chain.py); per market tick M:
executor (tick M: resting orders, then in-flight orders arriving at M) -> risk (the executor's fills of M,
then its order_results of M, then tick M) -> strategy (tick M) -> risk (the signals of M) -> executor (the
intents of M go in flight). A role process follows the same order for its own inputs and processes mseq M
only once it knows that nothing at or before M can still arrive (docs/architecture.md, "The market timeline"):
- strategy_role never waits for a peer: its only timeline input is market_ticks (AI recommendations are
  taken as they arrive, which the input log records: that is the one timing dependence left, and only with
  use_ai). It holds the ticks that cannot close a bar until one that can arrives (`StrategySchedule`).
- risk_role processes M when the strategy's watermark is >= M (the signals of M are published) or M cannot
  close a bar (`BarCloses`: no signal can be made at it), and the executor's is >= M or the executor cannot
  write about any order risk has open at M (`RiskSchedule._executor_may_act`: not before the order reaches
  the book, then only at its own symbol's ticks until it has waited `max_quote_age_ms` for one).
- execution_role processes tick M when risk's watermark W is >= M - 1, or when the market time of tick
  W + 1 plus `execution.latency_ms` is beyond that of M: an intent risk has yet to decide (at W + 1 or later)
  cannot arrive by M. So the executor runs ahead of risk by the latency window, and risk follows it.
Each schedule's `run_once` returns how many inputs it processed; `waiting()` says whether inputs are held
back for a peer (a role asked to end keeps running while that is so, or the end would cut the timeline).
When it wakes is a matter of cost, never of outcome: risk_role and execution_role with no order open
(`dormant`) take the ticks in batches at the safety net instead of a round per tick (`skips`), and the
order above makes the outputs the same (issue 14, idle cost). This module holds the rules and strategy_role's
schedule; risk_role's and execution_role's are in minibot/roles/timeline_schedule.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from minibot.journal.consumer import Record
from minibot.rolenames import Role
from minibot.roles.runner import RoleRunner
from minibot.roles.timeline import MARKET
from minibot.roles.wake import Rings
from minibot.strategies.bars import BarCloses

# Whose market_ticks watermark each timeline role waits for (see the module docstring).
PEERS: Mapping[str, tuple[str, ...]] = {
    Role.RISK.value: (Role.STRATEGY.value, Role.EXECUTION.value),
    Role.EXECUTION.value: (Role.RISK.value,),
}


# Input queues whose appends need not wake the role: risk_role processes a tick only after a peer's watermark
# has passed it (the strategy's, for a tick that may close a bar; the executor's, while an order is open) or,
# with no order open, at its safety net; those peers' progress rings it (minibot/journal/doorbell.py).
MUTED: Mapping[str, tuple[str, ...]] = {Role.RISK.value: (MARKET,)}

# Input queues a role listens to sparsely: their producer rings it only for a batch that may matter at once
# (market_role for a tick that may close a bar, `BarCloses`: the only ticks a signal can be made at); the
# strategy holds the other ticks anyway and takes them at its safety net (`StrategySchedule`), so a quiet
# tick wakes one process fewer (issue 14: idle cost, and a CPU less contended on the tick -> fill path).
SPARSE: Mapping[str, tuple[str, ...]] = {Role.STRATEGY.value: (MARKET,)}

# The peers whose watermark ring also stands for the ring of a muted queue (a peer passing M means tick M is
# there for risk_role): a round they ask for is skipped only while the role is `dormant`.
ANNOUNCES: Mapping[str, frozenset[str]] = {Role.RISK.value: frozenset((Role.STRATEGY.value, Role.EXECUTION.value))}

# Input queues whose rings a role leaves to its safety net while it is `dormant` (no order open): the
# executor's ticks then only move its book forward, which one batch at the next round does just as well, and
# in the same timeline order, so no output changes (issue 14, idle cost: a round per tick for nothing). The
# ring of an intent still wakes it at once, and it reads every tick before the intent.
LAZY: Mapping[str, frozenset[str]] = {Role.EXECUTION.value: frozenset((MARKET,))}


def watchers(role: str) -> tuple[str, ...]:
    """The roles that wait for `role`'s watermark: rung when it advances (minibot/journal/doorbell.py)."""
    return tuple(r for r, peers in PEERS.items() if role in peers)


class Schedule(Protocol):
    """What a core role's process drives."""

    def run_once(self) -> int:
        """Process what may be processed now; returns how many inputs."""
        ...

    def waiting(self) -> bool:
        """True while inputs are held back (read or unread)."""
        ...

    def close(self) -> None:
        """Release the files the schedule holds open (the peers' acks journals)."""
        ...

    def skips(self, rings: Rings) -> bool:
        """Whether a round woken only by `rings` would find nothing it must do before the safety net."""
        ...

    def lazy_now(self) -> frozenset[str]:
        """The input queues the role leaves to its safety net as things stand (their producers need not ring)."""
        ...


class StrategySchedule:
    """strategy_role: its inputs in the order they arrived (market_ticks, then AI recommendations, per round).

    A tick that cannot close its symbol's bar cannot make a signal (`BarCloses`), so the ticks read are held,
    read but not processed, until one that may close a bar arrives, an AI recommendation arrives, the run
    ends, or the oldest has waited `hold_s` (the safety net). Then they are processed as one batch, in order:
    the same inputs in the same order, so the same outputs; a quiet market costs a poll per tick instead of a
    round (input-log line, ack, their fsyncs, a watermark ring). risk_role passes such ticks without waiting
    for the strategy's watermark, which therefore has to move only for ticks that may close a bar."""

    def __init__(self, runner: RoleRunner, closes: BarCloses, hold_s: float, ending: Callable[[], bool]) -> None:
        self.runner = runner
        self.closes = closes
        self.hold_s = hold_s
        self.ending = ending
        self.held: list[Record] = []
        self._held_at = 0.0  # monotonic time the oldest held tick was read

    def run_once(self) -> int:
        runner = self.runner
        if runner.stopped():
            return 0
        market = runner.by_queue[MARKET]
        ticks = market.poll()
        urgent = False
        for record in ticks:
            payload = record.event["payload"]
            urgent = self.closes.feed(payload["symbol"], int(record.event["ts"])) or urgent
        if ticks and not self.held:
            self._held_at = time.monotonic()
        self.held.extend(ticks)
        others = [(queue, consumer.poll()) for queue, consumer in runner.consumers if queue != MARKET]
        if not (urgent or market.more or any(records for _, records in others) or self._due()):
            return 0
        total = runner.process(MARKET, self.held)
        self.held = []
        for queue, records in others:
            if not runner.stopped():
                total += runner.process(queue, records)
        runner.ack_done()
        return total

    def _due(self) -> bool:
        return bool(self.held) and (self.ending() or time.monotonic() - self._held_at >= self.hold_s)

    def waiting(self) -> bool:
        return bool(self.held)

    def close(self) -> None:
        pass

    def skips(self, rings: Rings) -> bool:
        return False  # a tick's ring may bring one that closes a bar

    def lazy_now(self) -> frozenset[str]:
        return frozenset()
