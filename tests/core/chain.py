"""The whole trading core wired in process: strategy -> risk -> executor (with its portfolio) -> risk.

This plays the runners' part without files: it wraps each core output into an envelope the way runners do
(`ts` = the input's ts, `id` = deterministic_id(run_id, role, input id, output index), `source` = role)
and routes it to its consumers. For each market tick: the executor sees it first (resting orders, marks),
then risk (marks, limits), then the strategy; every output is delivered breadth-first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from minibot.contracts.core import Core, Output
from minibot.execution import ExecutionCore
from minibot.ids import deterministic_id
from minibot.model import SymbolFilters
from minibot.risk import RiskCore
from minibot.strategies import StrategyCore

from .builders import CMDLINE_HASH, RUN_ID

Envelope = dict[str, Any]


class Chain:
    """strategy_role + risk_role + execution_role in one process; `events` holds every output envelope."""

    def __init__(
        self,
        strategy_cfg: Mapping[str, Any],
        risk_cfg: Mapping[str, Any],
        execution_cfg: Mapping[str, Any],
        filters: Mapping[str, SymbolFilters],
        record_inputs: bool = False,
    ) -> None:
        self.strategy = StrategyCore(strategy_cfg)
        self.risk = RiskCore(risk_cfg, float(execution_cfg["initial_cash"]), filters)
        self.executor = ExecutionCore(filters, execution_cfg)
        self.events: list[Envelope] = []
        # Per role, the exact input sequence its core saw (what a runner's input log records), when asked.
        self.inputs: dict[str, list[Mapping[str, Any]]] | None = (
            {"strategy_role": [], "risk_role": [], "execution_role": []} if record_inputs else None
        )
        self._routes: dict[str, tuple[tuple[str, Core], ...]] = {
            "signal": (("risk_role", self.risk),),
            "order_intent": (("execution_role", self.executor),),
            "fill": (("risk_role", self.risk),),
            "order_result": (("risk_role", self.risk),),
        }

    def _wrap(self, role: str, cause: Mapping[str, Any], outputs: list[Output]) -> list[Envelope]:
        wrapped = [
            {
                "schema": "nore.event",
                "v": 1,
                "ts": cause["ts"],
                "id": deterministic_id(RUN_ID, role, str(cause["id"]), str(i)),
                "source": role,
                "type": o.type,
                "run_id": RUN_ID,
                "cmdline_hash": CMDLINE_HASH,
                "payload": o.payload,
            }
            for i, o in enumerate(outputs)
        ]
        self.events.extend(wrapped)
        return wrapped

    def _route(self, first: list[Envelope]) -> None:
        queue: deque[Envelope] = deque(first)
        while queue:
            env = queue.popleft()
            for role, core in self._routes.get(env["type"], ()):
                if self.inputs is not None:
                    self.inputs[role].append(env)
                out = core.step(env)
                if out:
                    queue.extend(self._wrap(role, env, out))

    def feed(self, tick: Mapping[str, Any]) -> None:
        """One market tick through the whole chain."""
        if self.inputs is not None:
            for log in self.inputs.values():
                log.append(tick)
        out = self.executor.step(tick)
        if out:
            self._route(self._wrap("execution_role", tick, out))
        out = self.risk.step(tick)
        if out:
            self._route(self._wrap("risk_role", tick, out))
        out = self.strategy.step(tick)
        if out:
            self._route(self._wrap("strategy_role", tick, out))

    def feed_event(self, event: Mapping[str, Any]) -> None:
        """A non-tick input of the strategy (e.g. an ai_recommendation)."""
        if self.inputs is not None:
            self.inputs["strategy_role"].append(event)
        out = self.strategy.step(event)
        if out:
            self._route(self._wrap("strategy_role", event, out))

    def run(self, ticks: Iterable[Mapping[str, Any]]) -> list[Envelope]:
        """Feed all ticks; returns the output envelopes."""
        feed = self.feed
        for tick in ticks:
            feed(tick)
        return self.events

    def count(self, etype: str) -> int:
        """How many outputs of `etype` were produced."""
        return sum(1 for e in self.events if e["type"] == etype)
