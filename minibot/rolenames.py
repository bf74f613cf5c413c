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


# The sets hold the roles' names as plain strings (`Role.X.value`): they become dict keys and JSON, where a
# str-enum member is not a plain str (orjson refuses it as a key).
# The three roles that run a pure trading core (roles/core_role.py): deterministic, replayed by
# `nore replay` and `nore backtest`, in the order of the market timeline's chain.
TRADING_CORE_ROLES: tuple[str, ...] = (Role.STRATEGY.value, Role.RISK.value, Role.EXECUTION.value)
# The role processes every run starts (the supervisor adds ai_role when `ai.enabled`).
ALWAYS_STARTED_ROLES: tuple[str, ...] = (Role.MARKET.value, Role.HEALTH.value, *TRADING_CORE_ROLES)
# Graceful end of a run, upstream first, so each stage drains what the previous one wrote before the
# next is asked to finish: every order_intent risk_role wrote is still answered by execution_role.
SHUTDOWN_STAGES: tuple[tuple[str, ...], ...] = (
    (Role.MARKET.value, Role.HEALTH.value),
    (Role.AI.value,),
    (Role.STRATEGY.value,),
    (Role.RISK.value,),
    (Role.EXECUTION.value,),
)
