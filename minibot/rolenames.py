"""The roles of a run: one `Role` enum, and every set of roles derived from it.

A role's name is its producer name on the queues (`source` of its events, contracts.v1.json), its module
(`minibot.roles.<role>`) and its folder (`roles/<role>/`). The watchdog is a role on the queues but no
process of its own: it runs inside the supervisor.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Every role of a run."""

    MARKET = "market_role"
    HEALTH = "health_role"
    STRATEGY = "strategy_role"
    RISK = "risk_role"
    EXECUTION = "execution_role"
    AI = "ai_role"
    WATCHDOG = "watchdog_role"


# The three roles that run a pure trading core (roles/core_role.py): deterministic, replayed by
# `nore replay` and `nore backtest`, in the order of the market timeline's chain.
TRADING_CORE_ROLES: tuple[Role, ...] = (Role.STRATEGY, Role.RISK, Role.EXECUTION)
# The role processes every run starts (the supervisor adds ai_role when `ai.enabled`).
ALWAYS_STARTED_ROLES: tuple[Role, ...] = (Role.MARKET, Role.HEALTH, *TRADING_CORE_ROLES)
# Graceful end of a run, upstream first, so each stage drains what the previous one wrote before the
# next is asked to finish: every order_intent risk_role wrote is still answered by execution_role.
SHUTDOWN_STAGES: tuple[tuple[Role, ...], ...] = (
    (Role.MARKET, Role.HEALTH),
    (Role.AI,),
    (Role.STRATEGY,),
    (Role.RISK,),
    (Role.EXECUTION,),
)
