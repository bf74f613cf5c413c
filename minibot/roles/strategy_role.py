"""strategy_role: `python -m minibot.roles.strategy_role --run-dir RUN_DIR`.

Reads market_ticks and ai_recommendations (in that order), runs `StrategyCore(config["strategy"])`, writes
`signal`s with ids derived from their causes (restart-safe; see minibot/roles/runner.py).
"""

from __future__ import annotations

from minibot.rolenames import Role
from minibot.roles.core_role import CoreRole, build_core, load_filters
from minibot.roles.process import RoleEnv, RoleLoop, role_main

ROLE = Role.STRATEGY.value


def build(env: RoleEnv) -> RoleLoop:
    """The strategy role on its run's queues."""
    return CoreRole(env, build_core(ROLE, env.config, load_filters(env.run_dir)))


def main(argv: list[str] | None = None) -> int:
    """Process entry point; returns the exit code (minibot.roles.process)."""
    return role_main(ROLE, build, argv)


if __name__ == "__main__":
    raise SystemExit(main())
