"""risk_role: `python -m minibot.roles.risk_role --run-dir RUN_DIR`.

Reads signals, fills, order_results and market_ticks (in that order), runs `RiskCore(config["risk"],
config["execution"]["initial_cash"], filters from exchange_info.json)`, writes `order_intent`s,
`risk_action`s and (on a breach) `stop_journal` + STOP.flag, with ids derived from their causes.

Operator kill switch: when STOP.flag appears (any role, the supervisor or the operator), the process halts
(minibot.roles.process) and the core's `halt()` is called first, so every later signal would be REJECTed
with KILL_SWITCH; no input is processed after the flag is seen (minibot.roles.core_role).
"""

from __future__ import annotations

from minibot.rolenames import Role
from minibot.roles.core_role import core_role_main

ROLE = Role.RISK.value


def main(argv: list[str] | None = None) -> int:
    """Process entry point; returns the exit code (minibot.roles.process)."""
    return core_role_main(ROLE, argv)


if __name__ == "__main__":
    raise SystemExit(main())
