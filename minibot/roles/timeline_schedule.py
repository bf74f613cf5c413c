"""The schedules of risk_role and execution_role: their inputs in the market-timeline order, gated by the
peers' watermarks (minibot/roles/schedule.py has the order and the rules; this module the two schedules).

Both buffer what they polled, per input queue, and take it in the order the in-process chain does
(minibot/backtest/chain.py); while no order is open they are `dormant` and leave the ticks to their safety
net (`skips`, `lazy_now`), which changes when they run, never what they write (issue 14, idle cost).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque

from minibot.execution import ExecutionCore, acts_at
from minibot.journal.consumer import Consumer, Record
from minibot.model.config import ExecutionConfig
from minibot.reasons import ContractViolation, ReasonCode
from minibot.risk import RiskCore
from minibot.rolenames import Role
from minibot.roles.runner import RoleRunner
from minibot.roles.schedule import ANNOUNCES, LAZY, PEERS
from minibot.roles.timeline import MARKET, MSEQ, Watermark
from minibot.roles.wake import Rings
from minibot.strategies.bars import BarCloses


def _drain(consumer: Consumer, into: deque[Record]) -> None:
    """Everything published so far on a low-volume queue (signals, fills, results, intents)."""
    while True:
        records = consumer.poll()
        if not records:
            return
        into.extend(records)


def _mseq(record: Record) -> int:
    value = record.event["payload"].get(MSEQ)
    if not isinstance(value, int):
        event = record.event
        raise ContractViolation(
            f"{event['type']} {event['id']} carries no {MSEQ}: it is not on the market timeline",
            ReasonCode.PAYLOAD_INVALID,
        )
    return value


def _take(buffer: deque[Record], upto: int) -> list[Record]:
    """Records at the head of `buffer` whose mseq is <= `upto`."""
    out: list[Record] = []
    while buffer and _mseq(buffer[0]) <= upto:
        out.append(buffer.popleft())
    return out


def _in_order(signals: list[Record], m: int) -> list[Record]:
    """The signals taken at tick M must all be of M: one of an earlier tick means risk passed that tick
    as one that cannot close a bar (`BarCloses`) while the strategy signalled at it, so the timeline order
    is broken and the outputs would differ from the in-process chain's (fail closed)."""
    for record in signals:
        if _mseq(record) < m:
            event = record.event
            raise ContractViolation(
                f"signal {event['id']} of market tick {_mseq(record)} arrived after risk_role had passed that "
                f"tick (it took it for one that cannot close a bar): the market timeline order is broken",
                ReasonCode.TIMELINE_ORDER,
            )
    return signals


class _Batcher:
    """Collects consecutive records of one queue into one batch for the runner."""

    def __init__(self, runner: RoleRunner) -> None:
        self.runner = runner
        self.queue = ""
        self.records: list[Record] = []
        self.count = 0

    def add(self, queue: str, records: list[Record]) -> None:
        if not records:
            return
        if queue != self.queue:
            self.flush()
            self.queue = queue
        self.records.extend(records)

    def flush(self) -> None:
        if self.records and not self.runner.stopped():
            self.count += self.runner.process(self.queue, self.records)
        self.records = []


class _TimelineSchedule(ABC):
    """Shared part of risk and execution: buffers per input, polled after the peers' watermarks are read."""

    def __init__(self, runner: RoleRunner, peers: tuple[str, ...]) -> None:
        self.runner = runner
        market = runner.ctx.queue_paths(MARKET)
        self.peers = {role: Watermark(market, role) for role in peers}
        self.buffers: dict[str, deque[Record]] = {q: deque() for q, _ in runner.consumers}
        self._announcing = ANNOUNCES.get(runner.role, frozenset())
        self._lazy = LAZY.get(runner.role, frozenset())
        self._batch_max = runner.by_queue[MARKET].batch_max
        self.market_ts = runner.stepper.clock.now  # market time of the last tick taken (the core's clock)

    def _tick_time(self, tick: Record) -> int:
        """Market time at `tick` (the largest tick `ts` so far, as the cores keep it)."""
        return max(self.market_ts, int(tick.event["ts"]))

    def _fill_buffers(self) -> tuple[dict[str, int], list[Record]]:
        """The peers' watermarks, read first; then every queue polled. Returns them and the ticks just read."""
        marks = {role: mark.read() for role, mark in self.peers.items()}  # before polling: see docstring
        for queue, consumer in self.runner.consumers:
            if queue != MARKET:
                _drain(consumer, self.buffers[queue])
        ticks = self.buffers[MARKET]
        if len(ticks) < self._batch_max:
            new = self.runner.by_queue[MARKET].poll()
            ticks.extend(new)
            return marks, new
        return marks, []

    def waiting(self) -> bool:
        return any(self.buffers.values()) or self.runner.lagging()

    def close(self) -> None:
        for mark in self.peers.values():
            mark.close()

    @abstractmethod
    def dormant(self) -> bool:
        """Whether the role has no order open, so that ticks cannot make it write anything at once."""

    def lazy_now(self) -> frozenset[str]:
        return self._lazy if self.dormant() else frozenset()

    def skips(self, rings: Rings) -> bool:
        """Whether a round woken only by `rings` would find nothing it must do now:
        - never when a ring names a queue the role reads at once (not in `LAZY`), or an input other than a
          tick is held back;
        - a `dormant` role leaves the ticks (their `LAZY` rings, the watermark rings that announce them) to
          its safety net: it processes them later in one batch, in the same order (issue 14, idle cost);
        - otherwise a peer's watermark matters only to inputs held back for it: with nothing buffered, every
          input visible at the last round was processed and any newer one is announced by its own ring (or,
          for a muted queue, by the ring of the peer in `ANNOUNCES`)."""
        if rings.queues - self._lazy or any(held for queue, held in self.buffers.items() if queue != MARKET):
            return False
        if self.dormant():
            return True
        return not rings.queues and not (rings.marks & self._announcing) and not self.buffers[MARKET]

    def _finish(self, batcher: _Batcher) -> int:
        batcher.flush()
        self.runner.ack_done()
        if self.runner.halted:
            for buffer in self.buffers.values():
                buffer.clear()
        return batcher.count


class RiskSchedule(_TimelineSchedule):
    """risk_role: per mseq M, the executor's fills and results of M, tick M, the signals of M."""

    def __init__(self, runner: RoleRunner, core: RiskCore, closes: BarCloses, execution: ExecutionConfig) -> None:
        super().__init__(runner, PEERS[Role.RISK.value])
        self.core = core
        self.closes = closes
        self.latency_ms = execution.latency_ms  # how long after its decision an order reaches the book
        self.max_age_ms = execution.max_quote_age_ms  # how long after that it may wait for a tick of its symbol
        self._closing: set[int] = set()  # buffered ticks that may close a bar: they wait for the strategy

    def dormant(self) -> bool:
        """No order open: the executor has nothing to say about a tick, so risk's watermark holds nobody
        up. A held position is still marked at every tick against the loss limits (R-K1..K4), in timeline
        order, so a breach STOPs at the same tick; it is only noticed up to one safety-net interval later in
        wall time, while no order can be placed or filled anyway (every signal after that tick is refused)."""
        return not self.core.open_orders

    def run_once(self) -> int:
        marks, new = self._fill_buffers()
        for record in new:  # each tick once, in order
            event = record.event
            if self.closes.feed(event["payload"]["symbol"], int(event["ts"])):
                self._closing.add(record.line)
        strategy, execution = marks[Role.STRATEGY.value], marks[Role.EXECUTION.value]
        b = self.buffers
        ticks = b[MARKET]
        batcher = _Batcher(self.runner)
        while ticks and not self.runner.halted:
            m = ticks[0].line
            if m > strategy and m in self._closing:
                break  # the strategy may still publish a signal of M
            tick_time = self._tick_time(ticks[0])
            if m > execution:
                if batcher.queue != MARKET:
                    batcher.flush()  # signals, fills and results change the open orders; ticks do not
                if self.runner.halted or self._executor_may_act(ticks[0].event["payload"]["symbol"], tick_time):
                    break
            self.market_ts = tick_time
            self._closing.discard(m)
            batcher.add("fills", _take(b["fills"], m))
            batcher.add("order_results", _take(b["order_results"], m))
            batcher.add(MARKET, [ticks.popleft()])
            batcher.add("signals", _in_order(_take(b["signals"], m), m))
        return self._finish(batcher)

    def _executor_may_act(self, symbol: str, tick_time: int) -> bool:
        """Whether the executor may write a fill or an order_result about an order risk has open at a tick of
        `symbol` at market time `tick_time` (`acts_at`, the executor's own rule). At every other tick risk goes
        on without the executor's watermark, so the two do not take turns per tick while an order is open."""
        return any(
            acts_at(order_symbol, decided + self.latency_ms, symbol, tick_time, self.max_age_ms)
            for order_symbol, decided in self.core.open_order_decisions()
        )


class ExecutionSchedule(_TimelineSchedule):
    """execution_role: tick M, then the intents of M go in flight; runs ahead of risk by the latency."""

    def __init__(self, runner: RoleRunner, core: ExecutionCore) -> None:
        super().__init__(runner, PEERS[Role.EXECUTION.value])
        self.core = core
        self.latency_ms = core.latency_ms
        # (line, market time) of the ticks processed but not yet covered by risk's watermark.
        self._times: deque[tuple[int, int]] = deque()

    def dormant(self) -> bool:
        """No order in flight or resting, and no intent waiting for its tick: a tick only updates the book."""
        return not self.core.open_orders and not self.buffers["order_intents"]

    def run_once(self) -> int:
        risk = self._fill_buffers()[0][Role.RISK.value]
        times = self._times
        while times and times[0][0] <= risk:
            times.popleft()
        b = self.buffers
        ticks = b[MARKET]
        batcher = _Batcher(self.runner)
        following = self.runner.next_line.get(MARKET, 0)  # the tick after the last one processed or batched
        while not self.runner.halted:
            # The intents of the ticks before the next one go in flight now: those of the round's last tick
            # too, not a round later (that round would wait for a tick's ring, or for the safety net while
            # the executor mutes the ticks).
            upcoming = ticks[0].line if ticks else following
            batcher.add("order_intents", _take(b["order_intents"], upcoming - 1))
            if not ticks:
                break
            m = ticks[0].line
            tick_time = self._tick_time(ticks[0])
            if risk < m - 1:
                # Market time of the first tick risk has not finished (the executor saw it already).
                undecided = times[0][1] if times and times[0][0] == risk + 1 else None
                if undecided is None or undecided + self.latency_ms <= tick_time:
                    break
            self.market_ts = tick_time
            times.append((m, tick_time))
            batcher.add(MARKET, [ticks.popleft()])
            following = m + 1
        return self._finish(batcher)
