"""`nore verify`: every order_intent has exactly one order_result, every order's fills add up (issue 13)."""

from __future__ import annotations

from pathlib import Path

from minibot.config.views import QueuesConfig
from minibot.journal.context import RunContext
from minibot.journal.stop import stop
from minibot.metrics.verify import verify_run
from minibot.reasons import ReasonCode, VerifyCode
from tests.metrics.runbuild import END, RunBuilder, finish, populate
from tests.watchdog.runproc import queue_events

ORDER_CODES = {VerifyCode.ORDER_RESULT_MISSING, VerifyCode.ORDER_RESULT_DUPLICATED, VerifyCode.FILLS_MISMATCH}


def _order_reasons(run_dir: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in verify_run(run_dir).reasons:
        if r.code in ORDER_CODES:
            out.setdefault(r.code, []).append(r.detail)
    return out


def _clean(tmp_path: Path) -> RunBuilder:
    b = RunBuilder(tmp_path / "var")
    populate(b)
    finish(b)
    assert _order_reasons(b.run_dir) == {}
    return b


def test_an_intent_without_its_result_fails_unless_a_stop_explains_it(tmp_path: Path) -> None:
    b = _clean(tmp_path)
    intent = b.intent(END, "BUY", 0.01, 50000.0, 50001.0, 3)  # risk_role wrote it; execution never answered
    b.close()
    found = _order_reasons(b.run_dir)
    assert list(found) == [VerifyCode.ORDER_RESULT_MISSING]
    detail = found[VerifyCode.ORDER_RESULT_MISSING][0]
    assert intent["id"] in detail and "nore-3" in detail
    ctx = RunContext(b.run_dir, b.ctx.run_id, b.cmdline_hash, lambda: END, QueuesConfig.from_config(b.config))
    stop(ctx, source="watchdog_role", component="watchdog_role", reason_code=ReasonCode.ROLE_FAILED, detail="test")
    assert _order_reasons(b.run_dir) == {}, "the executor halts on a STOP: the STOP accounts for the intent"


def test_a_second_result_for_one_intent_fails(tmp_path: Path) -> None:
    b = _clean(tmp_path)
    first = queue_events(b.run_dir, "order_results")[0]
    b.publish("order_results", "execution_role", "order_result", dict(first["payload"]), END)
    b.close()
    found = _order_reasons(b.run_dir)
    assert list(found) == [VerifyCode.ORDER_RESULT_DUPLICATED]
    assert first["payload"]["cause_id"] in found[VerifyCode.ORDER_RESULT_DUPLICATED][0]


def test_fills_that_do_not_add_up_fail(tmp_path: Path) -> None:
    b = _clean(tmp_path)
    fill = queue_events(b.run_dir, "fills")[0]["payload"]
    b.publish("fills", "execution_role", "fill", dict(fill), END)  # the same fill booked twice
    orphan = {**fill, "order_id": "paper-000000000000000000000000"}
    b.publish("fills", "execution_role", "fill", orphan, END)
    b.close()
    details = _order_reasons(b.run_dir)[VerifyCode.FILLS_MISMATCH]
    assert len(details) == 2, details
    assert any(fill["order_id"] in d and "accepted" in d and "0.02" in d for d in details), details
    assert any("paper-000000000000000000000000" in d and "no order_result" in d for d in details), details
