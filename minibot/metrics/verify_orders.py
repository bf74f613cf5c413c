"""`nore verify`, part 3: every order is accounted for (docs/operations.md: every intent gets its result).

- every `order_intent` risk_role wrote has exactly one `order_result` caused by it (`cause_id` = the
  intent's event id; a resting LIMIT order's later FILLED / EXPIRED result is caused by a tick, not by
  the intent). After a STOP the executor halts at once, so intents left unanswered by a STOPped run are
  accounted for by that STOP (which fails the run unless injected) and not reported again;
- every order's fills add up to what its results say was filled (the largest `filled_qty` among the
  order's results: results only grow), and no fill belongs to an order that has no result.

Quantities are compared as decimals of their shortest float text: the executor computes them in decimal
steps of the symbol's lot size, so a correct journal matches exactly and any difference is a defect.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from minibot.journal.layout import INBOX
from minibot.metrics.tail import JournalTail
from minibot.metrics.verdict import Reasons
from minibot.reasons import VerifyCode
from minibot.rolenames import Role

INTENT_SOURCE = Role.RISK.value
ACCEPTED = ("FILLED", "PARTIALLY_FILLED")


def _events(queues_dir: Path, queue: str) -> list[dict[str, Any]]:
    """The decodable events of a queue (damaged lines are check_integrity's)."""
    folder = queues_dir / queue
    return JournalTail(folder, INBOX, strict=False).read() if folder.is_dir() else []


def _qty(value: Any) -> Decimal:
    return Decimal(repr(float(value)))


def check_orders(queues_dir: Path, stopped: bool, reasons: Reasons) -> None:
    """Intents against results, results against fills (`stopped`: the run has a STOP)."""
    intents = [e for e in _events(queues_dir, "order_intents") if e.get("source") == INTENT_SOURCE]
    results = _events(queues_dir, "order_results")
    fills = _events(queues_dir, "fills")
    answers = Counter(str(r["payload"].get("cause_id")) for r in results)
    for intent in intents:
        n = answers[str(intent["id"])]
        coid = intent["payload"].get("client_order_id")
        if n > 1:
            reasons.add(
                VerifyCode.ORDER_RESULT_DUPLICATED.value,
                f"order_intent {intent['id']} ({coid}) has {n} order_results caused by it, the design writes one",
            )
        elif n == 0 and not stopped:
            reasons.add(
                VerifyCode.ORDER_RESULT_MISSING.value,
                f"order_intent {intent['id']} ({coid}) has no order_result and no STOP explains it",
            )
    _check_fills(results, fills, reasons)


def _check_fills(results: list[dict[str, Any]], fills: list[dict[str, Any]], reasons: Reasons) -> None:
    """Each order's fills sum to its largest reported filled quantity; no fill without a result."""
    filled: dict[str, Decimal] = {}
    status: dict[str, str] = {}
    for r in results:
        p = r["payload"]
        order = str(p.get("order_id"))
        qty = _qty(p.get("filled_qty", 0))
        if order not in filled or qty >= filled[order]:
            filled[order], status[order] = qty, str(p.get("result"))
    booked: dict[str, Decimal] = {}
    for f in fills:
        order = str(f["payload"].get("order_id"))
        booked[order] = booked.get(order, Decimal(0)) + _qty(f["payload"].get("qty", 0))
    for order in sorted(booked.keys() - filled.keys()):
        reasons.add(VerifyCode.FILLS_MISMATCH.value, f"order {order} has fills ({booked[order]}) but no order_result")
    for order, qty in sorted(filled.items()):
        got = booked.get(order, Decimal(0))
        if got != qty:
            accepted = "accepted" if status[order] in ACCEPTED else status[order]
            reasons.add(
                VerifyCode.FILLS_MISMATCH.value,
                f"order {order} ({accepted}) reports filled_qty {qty} but its fills sum to {got}",
            )
