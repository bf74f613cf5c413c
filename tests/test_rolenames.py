"""One `Role` enum: every role named in contracts.v1.json is a member, every role set is made of members,
and each set holds what its name says."""

from __future__ import annotations

import importlib.util

from minibot.contracts.registry import registry
from minibot.rolenames import ALWAYS_STARTED_ROLES, SHUTDOWN_STAGES, TRADING_CORE_ROLES, Role
from minibot.roles.core_role import ROLE_INPUTS
from minibot.watchdog.procs import run_roles

NOT_A_ROLE = {"cli"}  # `nore stop` / `nore deploy` write to the queues too, as the command line


def test_every_producer_and_consumer_in_the_contracts_is_a_role() -> None:
    doc = registry().document
    named = set()
    for spec in doc["queues"].values():
        named |= set(spec["producers"]) | set(spec["consumers"])
    for spec in doc["journals"].values():
        if isinstance(spec.get("producers"), list):
            named |= set(spec["producers"])
    assert named - NOT_A_ROLE == {r.value for r in Role}


def test_the_role_sets_are_what_their_names_say() -> None:
    assert list(ROLE_INPUTS) == list(TRADING_CORE_ROLES), "the trading cores are the roles with an input schedule"
    stages = [r for stage in SHUTDOWN_STAGES for r in stage]
    assert sorted(stages) == sorted({*ALWAYS_STARTED_ROLES, Role.AI}), "every role process ends in one stage"
    assert Role.WATCHDOG not in stages, "the watchdog runs inside the supervisor: no process to end"
    for role in stages:
        assert importlib.util.find_spec(f"minibot.roles.{role}") is not None, f"{role} has no process module"


def test_a_run_starts_the_always_started_roles_and_ai_role_when_enabled() -> None:
    assert run_roles({"ai": {"enabled": False}}) == list(ALWAYS_STARTED_ROLES)
    assert run_roles({"ai": {"enabled": True}}) == [*ALWAYS_STARTED_ROLES, Role.AI]
