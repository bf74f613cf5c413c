"""The trading core in one process: the canonical market-timeline order, which the role processes reproduce.

Per market tick M (`feed(M, tick)`):
1. executor: tick M (resting orders of its symbol, then in-flight orders arriving at M, then stale ones);
2. risk: the executor's fills of M, then its order_results of M, then tick M;
3. strategy: tick M;
4. risk: the signals of M;
5. executor: the intents of M go in flight (they can only meet a later tick).
Every output becomes an event through `minibot.roles.timeline.wrap_outputs` with the same ids, `ts` and
`mseq` the role processes give it, and lands in `outputs[(role, queue)]` in the order a process publishes
it. A STOP ends the chain after the input that raised it (a role process stops there too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from minibot.execution import ExecutionCore
from minibot.model.filters import SymbolFilters
from minibot.risk import RiskCore
from minibot.rolenames import TRADING_CORE_ROLES, Role
from minibot.roles.core_role import build_core
from minibot.roles.runner import output_queues
from minibot.roles.timeline import MSEQ, MarketClock, wrap_outputs

Envelope = dict[str, Any]
Sink = Callable[[str, str, list[Envelope]], None]


class CoreChain:
    """strategy -> risk -> executor -> risk, in process, on the market timeline."""

    def __init__(
        self,
        run_id: str,
        cmdline_hash: str,
        config: Mapping[str, Any],
        filters: Mapping[str, SymbolFilters],
        sink: Sink | None = None,
    ) -> None:
        """`sink(role, queue, envelopes)` receives every output batch; by default they are kept in `outputs`."""
        self.run_id = run_id
        self.cmdline_hash = cmdline_hash
        self.strategy = build_core(Role.STRATEGY.value, config, filters)
        risk = build_core(Role.RISK.value, config, filters)
        execution = build_core(Role.EXECUTION.value, config, filters)
        assert isinstance(risk, RiskCore) and isinstance(execution, ExecutionCore)
        self.risk, self.execution = risk, execution
        self.clock = MarketClock()
        self.routes: dict[str, dict[str, str]] = {role: output_queues(role) for role in TRADING_CORE_ROLES}
        self.outputs: dict[tuple[str, str], list[Envelope]] = {}
        self.sink: Sink = sink or self._keep
        self.stopped = False
        self.ticks = 0

    def _keep(self, role: str, queue: str, envelopes: list[Envelope]) -> None:
        self.outputs.setdefault((role, queue), []).extend(envelopes)

    def _emit(self, role: str, envelopes: list[Envelope]) -> None:
        routes = self.routes[role]
        for envelope in envelopes:
            self.sink(role, routes[envelope["type"]], [envelope])
            if envelope["type"] == "stop_journal":
                self.stopped = True

    def _wrap(self, role: str, outputs: list[Any], event: Mapping[str, Any], mseq: int, ts: int) -> list[Envelope]:
        envelopes = wrap_outputs(self.run_id, self.cmdline_hash, role, outputs, event["id"], mseq, ts)
        self._emit(role, envelopes)
        return envelopes

    def _step(self, role: str, core: Any, event: Mapping[str, Any], mseq: int, ts: int) -> list[Envelope]:
        outputs = core.step(event)
        return self._wrap(role, outputs, event, mseq, ts) if outputs else []

    def _answer(self, role: str, core: Any, events: Iterable[Envelope]) -> list[Envelope]:
        out: list[Envelope] = []
        for event in events:
            if self.stopped:
                break
            out.extend(self._step(role, core, event, event["payload"][MSEQ], int(event["ts"])))
        return out

    def feed(self, mseq: int, tick: Mapping[str, Any]) -> None:
        """Market tick number `mseq` (its line in market_ticks) through the whole chain."""
        if self.stopped:
            return
        self.ticks += 1
        ts = self.clock.on_tick(int(tick["ts"]))
        # Hot path: most ticks make no output anywhere, so each core is stepped directly and only a
        # non-empty result goes through _wrap.
        out = self.execution.step(tick)
        if out:
            executed = self._wrap(Role.EXECUTION.value, out, tick, mseq, ts)
            if not self.stopped:
                self._answer(Role.RISK.value, self.risk, [e for e in executed if e["type"] == "fill"])
                self._answer(Role.RISK.value, self.risk, [e for e in executed if e["type"] == "order_result"])
            if self.stopped:
                return
        out = self.risk.step(tick)
        if out:
            self._wrap(Role.RISK.value, out, tick, mseq, ts)
            if self.stopped:
                return
        out = self.strategy.step(tick)
        if out:
            signals = self._wrap(Role.STRATEGY.value, out, tick, mseq, ts)
            if not self.stopped:
                decided = self._answer(Role.RISK.value, self.risk, signals)
                self._answer(Role.EXECUTION.value, self.execution, [e for e in decided if e["type"] == "order_intent"])

    def run(self, ticks: Iterable[Mapping[str, Any]]) -> CoreChain:
        """Feed ticks numbered from 0 (a whole market_ticks journal, in order)."""
        for mseq, tick in enumerate(ticks):
            self.feed(mseq, tick)
        return self

    def core_outputs(self, role: str, queue: str) -> list[Envelope]:
        """The outputs `role` wrote to `queue`, in order (when kept in `outputs`)."""
        return self.outputs.get((role, queue), [])
