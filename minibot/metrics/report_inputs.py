"""The report's "Strategy input log" section: in which order strategy_role took its inputs.

With `strategy.use_ai = false` the strategy's only timeline input is market_ticks, so its outputs are a
function of them (`nore replay RUN_DIR --from-market` checks it). With AI recommendations, when each one
arrived relative to the ticks is wall-clock timing: the input log (`roles/strategy_role/inputs.jsonl`)
records it, `nore replay RUN_DIR` replays exactly that order, and this section shows it: batches and lines
per queue, and the last batches in order (docs/architecture.md, "The market timeline").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from minibot.journal.reader import decode_event, iter_lines
from minibot.metrics.report_data import RunData
from minibot.metrics.report_svg import attr
from minibot.metrics.report_tables import table
from minibot.reasons import NoreError
from minibot.rolenames import Role
from minibot.runlayout import INPUT_LOG_STEM, role_dir

ROLE = Role.STRATEGY.value
SHOWN = 20


def strategy_inputs(data: RunData) -> str:
    """Per-queue totals of the strategy's input log and its last batches (HTML)."""
    folder = role_dir(data.run_dir, ROLE)
    batches: list[dict[str, Any]] = []
    try:
        for raw in iter_lines(folder, INPUT_LOG_STEM):
            batches.append(decode_event(raw.data)[1]["payload"])
    except (NoreError, OSError) as exc:
        return f'<p class="note">The input log cannot be read: {attr(exc)}</p>'
    if not batches:
        why = "a backtest has none: it runs the chain in one process"
        return f'<p class="note">No input log in {attr(folder)} ({why}).</p>'
    per_batch: Counter[str] = Counter(b["queue"] for b in batches)
    lines: Counter[str] = Counter()
    for b in batches:
        lines[b["queue"]] += b["last_line"] - b["first_line"] + 1
    use_ai = bool(((data.run or {}).get("config") or {}).get("strategy", {}).get("use_ai"))
    note = (
        "strategy.use_ai is true: the AI recommendations below were taken when they arrived (wall-clock "
        "timing); nore replay RUN_DIR replays this order exactly."
        if use_ai
        else "strategy.use_ai is false: the signals are a function of market_ticks alone "
        "(nore replay RUN_DIR --from-market checks it)."
    )
    totals = table(["queue", "batches", "lines"], [[q, per_batch[q], lines[q]] for q in sorted(per_batch)])
    last = table(
        ["#", "queue", "first line", "last line"],
        [
            [len(batches) - len(batches[-SHOWN:]) + i + 1, b["queue"], b["first_line"], b["last_line"]]
            for i, b in enumerate(batches[-SHOWN:])
        ],
    )
    shown = f'<p class="note">Last {min(SHOWN, len(batches))} batches, in the order taken:</p>'
    return f'<p class="note">{attr(note)}</p>{totals}{shown}{last}'
