"""The `nore gates` row of ai_isolation_gate (R-Q3): the isolation checks plus the queue layer's refusals.

`isolation.ai_isolation_gate` proves the environment is scrubbed (canaries planted, a real child started
with it), that `minibot.ai` imports no trading or network code and names no `order_*` type, and that
contracts.v1.json gives ai_role nothing more. On top of that this gate exercises the queue layer in the
gate's temp folder: ai_role publishing any type to any queue it is not a producer of is refused before a
byte is written, and ai_role cannot open a consumer on any queue outside `ai_readable_queues`.
"""

from __future__ import annotations

import os
from pathlib import Path

from minibot.ai.isolation import ai_isolation_gate as isolation_checks
from minibot.config.loader import load_config
from minibot.config.views import SecretsConfig
from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.contracts.registry import registry
from minibot.gates.base import GateFailed
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.layout import INBOX
from minibot.journal.segments import list_segments
from minibot.reasons import ContractViolation, CursorDesync, ReasonCode
from minibot.rolenames import Role


def queue_refusals(workdir: Path) -> tuple[int, int, list[str]]:
    """(producer refusals, consumer refusals, problems) for ai_role on every queue it may not use."""
    ctx = RunContext(workdir / "run", EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1723161255342, scratch_queues())
    reg = registry()
    produced = consumed = 0
    problems: list[str] = []
    for name, queue in sorted(reg.queues.items()):
        if Role.AI.value in queue.producers:
            continue
        for type_ in sorted(queue.types):
            producer = ctx.producer(name, Role.AI.value)
            try:
                producer.publish([producer.event(type_, EXAMPLE_PAYLOADS[type_])])
                problems.append(f"{name}: ai_role published a {type_} event")
            except ContractViolation as exc:
                if exc.reason_code is not ReasonCode.PRODUCER_NOT_ALLOWED:
                    problems.append(f"{name}: {type_} refused as {exc.reason_code.value}, not PRODUCER_NOT_ALLOWED")
                produced += 1
            finally:
                producer.close()
            written = sum(p.stat().st_size for _, p in list_segments(ctx.queue_paths(name).folder, INBOX))
            if written:
                problems.append(f"{name}: {written} bytes written by a refused ai_role producer")
    for name in sorted(set(reg.queues) - reg.ai_readable_queues):
        try:
            ctx.consumer(name, Role.AI.value).close()
            problems.append(f"{name}: ai_role could open a consumer")
        except CursorDesync:
            consumed += 1
    return produced, consumed, problems


def ai_isolation_gate(workdir: Path) -> str:
    """Run every isolation check; the one-line detail, or GateFailed naming the first problems."""
    secrets = SecretsConfig.from_config(load_config())
    secrets_path = secrets.path or os.environ.get(str(secrets.env_var))
    result = isolation_checks(os.environ, secrets_path)
    problems = [f"{check}: {p}" for check, found in result.checks.items() for p in found]
    produced, consumed, refused_problems = queue_refusals(workdir)
    problems += [f"queue_refusal: {p}" for p in refused_problems]
    if problems:
        shown = "; ".join(problems[:3])
        raise GateFailed(f"{len(problems)} problem(s): {shown}" + (" ..." if len(problems) > 3 else ""))
    return (
        f"environment scrubbed, forbidden queues refused ({produced} publishes, {consumed} consumers), "
        "no forbidden imports, no order_* type produced"
    )
