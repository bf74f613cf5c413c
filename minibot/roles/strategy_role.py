"""strategy_role: `python -m minibot.roles.strategy_role --run-dir RUN_DIR`.

Reads market_ticks and ai_recommendations (in that order), runs `StrategyCore(config["strategy"])`, writes
`signal`s with ids derived from their causes (restart-safe; see minibot/roles/runner.py).
"""

from __future__ import annotations

from minibot.rolenames import Role
from minibot.roles.core_role import core_role_main

ROLE = Role.STRATEGY.value


def main(argv: list[str] | None = None) -> int:
    """Process entry point; returns the exit code (minibot.roles.process)."""
    return core_role_main(ROLE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
