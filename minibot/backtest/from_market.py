"""`nore replay RUN_DIR --from-market`: the core chain rebuilt from the run's market_ticks alone.

No input log is read: the three cores are chained in one process (`CoreChain`, the canonical timeline order)
and fed the recorded market_ticks in journal order; every output is compared byte for byte with the role's
recorded core outputs (`OutputComparer`, as `nore replay` does). With `strategy.use_ai = false` a run passes
whatever its speed, load or restarts were: that is the guarantee of docs/architecture.md, "The market
timeline". With AI recommendations, or after a STOP (the other roles halt when they see STOP.flag, at a
wall-clock moment), differences are expected and reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.backtest.chain import CoreChain
from minibot.backtest.compare import OutputComparer, RoleReplay
from minibot.journal.context import RunContext
from minibot.model.filters import SymbolFilters
from minibot.rolenames import TRADING_CORE_ROLES
from minibot.roles.runner import queue_events
from minibot.roles.timeline import MARKET


def replay_from_market(
    ctx: RunContext, config: Mapping[str, Any], filters: Mapping[str, SymbolFilters]
) -> list[RoleReplay]:
    """Each core role's verdict after the chain ran over the run's market_ticks."""
    comparers: dict[str, OutputComparer] = {role: OutputComparer(ctx, role) for role in TRADING_CORE_ROLES}

    def sink(role: str, _queue: str, envelopes: list[dict[str, Any]]) -> None:
        for envelope in envelopes:
            comparers[role].compare(envelope)

    chain = CoreChain(ctx.run_id, ctx.cmdline_hash, config, filters, sink)
    seen: set[str] = set()
    for line, tick in enumerate(queue_events(ctx, MARKET)):
        if tick["id"] in seen:
            continue  # a consumer drops a repeated id; its line still counts
        seen.add(tick["id"])
        chain.feed(line, tick)
    return [comparers[role].result() for role in TRADING_CORE_ROLES]
