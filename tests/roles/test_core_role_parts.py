"""The core roles' parts on a real run directory: inputs vs contracts, kill switch, portfolio snapshot check,
and tick -> fill timing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.contracts.registry import registry
from minibot.execution import ExecutionCore
from minibot.exitcodes import ExitCode
from minibot.ids import deterministic_id
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.context import RunContext
from minibot.journal.doorbell import doorbell_path, read_bell
from minibot.journal.stop import read_stop, stop
from minibot.model.portfolio import Portfolio
from minibot.reasons import NoreError, ReasonCode, RejectCode
from minibot.rolenames import TRADING_CORE_ROLES
from minibot.roles import execution_role
from minibot.roles.core_role import ROLE_INPUTS, CoreRole, build_role
from minibot.roles.process import load_env, with_doorbell
from minibot.roles.runner import queue_events
from minibot.roles.wake import Rings
from minibot.runlayout import role_dir
from tests.roles.core_run import make_run_dir, start_role

TICK = dict(EXAMPLE_PAYLOADS["market_tick"], exchange_ts=None)


def _intent(n: int, tick_id: str) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "qty": 0.0016,
        "order_type": "MARKET",
        "client_order_id": f"nore-{n:06d}",
        "notional": 97.97,
        "cause_id": deterministic_id("signal", str(n)),
        "tick_id": tick_id,
        "bid": 61234.4,
        "ask": 61234.6,
        "bid_qty": 1.2,
        "ask_qty": 0.8,
        "mseq": 0,
    }


def _publish(
    ctx: RunContext, queue: str, source: str, type_: str, payloads: list[dict[str, Any]], ts: int | None = None
) -> list[str]:
    producer = ctx.producer(queue, source)
    try:
        events = [
            producer.event(type_, p, ts=ts, id_=deterministic_id(queue, str(i), str(p))) for i, p in enumerate(payloads)
        ]
        producer.publish(events)
    finally:
        producer.close()
    return [e["id"] for e in events]


def _orders_on_the_timeline(ctx: RunContext, count: int) -> None:
    """Tick 0, `count` intents decided at it, tick 1 a second later (they arrive there), and risk's watermark
    past both ticks (the executor waits for it; no risk process runs here)."""
    ts = ctx.clock()
    tick_id = _publish(
        ctx, "market_ticks", "market_role", "market_tick", [{**TICK, "recv_perf_ns": time.perf_counter_ns()}], ts
    )[0]
    _publish(ctx, "order_intents", "risk_role", "order_intent", [_intent(n, tick_id) for n in range(count)], ts)
    later = {**TICK, "recv_perf_ns": time.perf_counter_ns() + 1}  # another tick (its id derives from the payload)
    _publish(ctx, "market_ticks", "market_role", "market_tick", [later], ts + 1000)
    risk = ctx.consumer("market_ticks", "risk_role")
    risk.poll()
    risk.ack()
    risk.close()


def _drain(role: CoreRole) -> None:
    for _ in range(100):
        if role.run_once() == 0:
            return
    raise AssertionError("the role never went idle")


def test_inputs_match_the_contracts() -> None:
    for role in TRADING_CORE_ROLES:
        consumed = {name for name, q in registry().queues.items() if role in q.consumers}
        assert set(ROLE_INPUTS[role]) == consumed, role


@pytest.mark.process
def test_kill_switch_halts_the_risk_core_and_the_process(tmp_path: Path) -> None:
    ctx = make_run_dir(tmp_path)
    role = build_role(load_env("risk_role", tmp_path))
    assert isinstance(role, CoreRole)
    stop(ctx, source="cli", component="operator", reason_code=ReasonCode.OPERATOR_KILL_SWITCH, detail="by hand")
    assert role.run_once() == 0
    assert role.core.halted is not None and "OPERATOR_KILL_SWITCH" in role.core.halted  # type: ignore[attr-defined]
    role.close()
    # As a process: it starts, sees the flag and halts with ExitCode.STOPPED.
    proc = start_role("risk_role", tmp_path)
    try:
        assert proc.wait(timeout=60) == ExitCode.STOPPED
    finally:
        if proc.poll() is None:
            proc.kill()
    assert read_stop(tmp_path)["payload"]["reason_code"] == "OPERATOR_KILL_SWITCH"


def test_halted_executor_rejects_with_kill_switch(tmp_path: Path) -> None:
    ctx = make_run_dir(tmp_path)
    role = execution_role.build(load_env("execution_role", tmp_path))
    assert isinstance(role, execution_role.ExecutionRole)
    role.core.halt("test")  # type: ignore[attr-defined]
    _orders_on_the_timeline(ctx, 1)
    role.schedule.run_once()
    role.close()
    results = [e["payload"] for e in queue_events(ctx, "order_results")]
    assert [(r["result"], r["reason_code"]) for r in results] == [("REJECTED", RejectCode.KILL_SWITCH.value)]


def _fill_some(tmp_path: Path) -> RunContext:
    ctx = make_run_dir(tmp_path)
    role = execution_role.build(load_env("execution_role", tmp_path))
    assert isinstance(role, CoreRole)
    _orders_on_the_timeline(ctx, 3)
    _drain(role)
    role.close()
    return ctx


@pytest.mark.process
def test_snapshot_is_written_and_checked_on_restart(tmp_path: Path) -> None:
    ctx = _fill_some(tmp_path)
    path = role_dir(tmp_path, "execution_role") / "portfolio.json"
    snap = read_critical_json(path)
    fills = [e for e in queue_events(ctx, "fills")]
    assert snap["fills"] == len(fills) == 3 and snap["last_fill_id"] == fills[-1]["id"]
    assert Portfolio.from_snapshot(snap).ledger() == Portfolio.rebuild((f["payload"] for f in fills), 10_000).ledger()
    timing = [e["payload"] for e in queue_events(ctx, "timing")]
    assert [t["cause_id"] for t in timing] == [f["id"] for f in fills]
    # A restart accepts the snapshot it wrote ...
    execution_role.build(load_env("execution_role", tmp_path)).close()
    # ... and refuses one that does not match the fills journal: the process STOPs with its reason.
    write_critical_json(path, {**snap, "fees_paid": snap["fees_paid"] + 1.0})
    with pytest.raises(NoreError) as caught:
        execution_role.build(load_env("execution_role", tmp_path))
    assert caught.value.reason_code == ReasonCode.PORTFOLIO_SNAPSHOT_MISMATCH
    assert "fees_paid" in caught.value.detail
    proc = start_role("execution_role", tmp_path)
    try:
        assert proc.wait(timeout=60) == ExitCode.STOPPED
    finally:
        if proc.poll() is None:
            proc.kill()
    assert read_stop(tmp_path)["payload"]["reason_code"] == "PORTFOLIO_SNAPSHOT_MISMATCH"


def test_snapshot_ahead_of_the_journal_is_a_mismatch(tmp_path: Path) -> None:
    _fill_some(tmp_path)
    path = role_dir(tmp_path, "execution_role") / "portfolio.json"
    write_critical_json(path, {**read_critical_json(path), "fills": 4})
    with pytest.raises(NoreError) as caught:
        execution_role.build(load_env("execution_role", tmp_path))
    assert caught.value.reason_code == ReasonCode.PORTFOLIO_SNAPSHOT_MISMATCH


def test_a_watermark_ring_wakes_a_round_only_for_inputs_held_back(tmp_path: Path) -> None:
    """With an order resting, the executor holds tick 2 back until risk has decided tick 1: risk's watermark
    ring must wake it then, and so must every new tick; once nothing is held back, a ring that only says risk
    moved on needs no round (issue 14, idle cost)."""
    ctx = make_run_dir(tmp_path)
    role = execution_role.build(load_env("execution_role", tmp_path))
    assert isinstance(role, CoreRole)
    ts = ctx.clock()
    tick_id = _publish(ctx, "market_ticks", "market_role", "market_tick", [{**TICK, "recv_perf_ns": 1}], ts)[0]
    resting = {**_intent(1, tick_id), "order_type": "LIMIT", "price": 30000.0, "qty": 0.002, "notional": 60.0}
    _publish(ctx, "order_intents", "risk_role", "order_intent", [resting], ts)
    _publish(ctx, "market_ticks", "market_role", "market_tick", [{**TICK, "recv_perf_ns": 2}], ts + 1000)
    _publish(ctx, "market_ticks", "market_role", "market_tick", [{**TICK, "recv_perf_ns": 3}], ts + 2000)
    risk = ctx.consumer("market_ticks", "risk_role")
    risk.poll(max_events=1)
    risk.ack()  # risk decided tick 0 (the intent): the executor may process tick 1, not tick 2
    assert role.run_once() == 3  # tick 0, the intent, tick 1 (the order rests on the book)
    assert not role.skips(Rings(marks=frozenset({"risk_role"})))
    assert not role.skips(Rings(queues=frozenset({"market_ticks"})))
    risk.poll()
    risk.ack()
    risk.close()
    assert role.run_once() == 1
    assert role.skips(Rings(marks=frozenset({"risk_role"})))
    assert not role.skips(Rings(queues=frozenset({"market_ticks"})))  # the resting order meets every tick
    assert not role.skips(Rings(queues=frozenset({"order_intents"})))
    role.close()


def test_a_role_with_nothing_open_leaves_the_ticks_to_its_safety_net(tmp_path: Path) -> None:
    """No order open and no position: the executor and risk skip the rounds that would only read ticks (a
    tick's ring, the watermark rings announcing ticks), never one an intent or a signal asks for; the ticks
    are processed at the next round all the same (issue 14, idle cost)."""
    ctx = make_run_dir(tmp_path)
    role = execution_role.build(load_env("execution_role", tmp_path))
    assert isinstance(role, CoreRole)
    _publish(ctx, "market_ticks", "market_role", "market_tick", [{**TICK, "recv_perf_ns": 1}], ctx.clock())
    assert role.skips(Rings(queues=frozenset({"market_ticks"}), marks=frozenset({"risk_role"})))
    assert not role.skips(Rings(queues=frozenset({"market_ticks", "order_intents"})))
    assert role.run_once() == 1  # the safety net's round reads the tick
    role.close()
    make_run_dir(tmp_path / "fresh")  # a risk_role of its own run (its cursor above names no logged input)
    risk_role = build_role(load_env("risk_role", tmp_path / "fresh"))
    assert isinstance(risk_role, CoreRole)
    assert risk_role.skips(Rings(marks=frozenset({"execution_role", "strategy_role"})))
    assert not risk_role.skips(Rings(queues=frozenset({"signals"})))
    assert not risk_role.skips(Rings(queues=frozenset({"fills"})))
    risk_role.close()


def test_the_executor_mutes_the_ticks_while_no_order_is_open(tmp_path: Path) -> None:
    """No order open: market_role need not ring it per tick (its doorbell file mutes market_ticks); an
    order that opens unmutes them, and the role looks again at once for a tick that came meanwhile."""
    ctx = make_run_dir(tmp_path)
    env = with_doorbell(load_env("execution_role", tmp_path))
    assert env.waker is not None and env.waker.bell is not None
    port = env.waker.bell.port
    role = execution_role.build(env)
    assert isinstance(role, CoreRole)
    bell_file = doorbell_path(tmp_path, "execution_role")
    try:
        ts = ctx.clock()
        tick_id = _publish(ctx, "market_ticks", "market_role", "market_tick", [{**TICK, "recv_perf_ns": 1}], ts)[0]
        assert role.run_once() == 1
        assert read_bell(bell_file) == (port, frozenset({"market_ticks"}), frozenset())
        assert not role.backlog()
        resting = {**_intent(1, tick_id), "order_type": "LIMIT", "price": 30000.0, "qty": 0.002, "notional": 60.0}
        _publish(ctx, "order_intents", "risk_role", "order_intent", [resting], ts)
        assert role.run_once() == 1
        assert read_bell(bell_file) == (port, frozenset(), frozenset())
        assert role.backlog()  # once: a tick appended before market_role saw the file rang nobody
        assert not role.backlog()
    finally:
        role.close()
        env.waker.close()


def test_an_intent_goes_in_flight_in_the_round_of_its_tick(tmp_path: Path) -> None:
    """The intent of the round's last tick is taken in that round, not a round later: with no order open the
    executor mutes the ticks, so that round would wait for the safety net (a 0.5 s stall seen in
    bench_latency.py before this was so)."""
    ctx = make_run_dir(tmp_path)
    role = execution_role.build(load_env("execution_role", tmp_path))
    assert isinstance(role, CoreRole)
    ts = ctx.clock()
    tick_id = _publish(ctx, "market_ticks", "market_role", "market_tick", [{**TICK, "recv_perf_ns": 1}], ts)[0]
    _publish(ctx, "order_intents", "risk_role", "order_intent", [_intent(1, tick_id)], ts)
    assert role.run_once() == 2  # tick 0, then its intent: in flight, waiting for a later tick
    assert isinstance(role.core, ExecutionCore) and role.core.in_flight == 1
    assert not role.schedule.lazy_now()  # an order is open: every tick rings it again
    role.close()


def _mark(ctx: RunContext, role: str, through: int) -> None:
    """`role`'s market_ticks watermark: its consumer acks the ticks up to line `through`."""
    consumer = ctx.consumer("market_ticks", role)
    consumer.poll(max_events=through + 1 - consumer.committed.line)
    consumer.ack()
    consumer.close()


def test_risk_waits_for_the_executor_only_where_an_open_order_can_meet_the_tick(tmp_path: Path) -> None:
    """An order risk has just decided reaches the book `execution.latency_ms` (100) later and executes at its
    symbol's first tick from then on; the executor writes about it at another symbol's tick only once it has
    waited `max_quote_age_ms` (1000 here) for one (stale). At every other tick the executor has nothing to say,
    so risk goes on without its watermark (the two would otherwise take turns per tick while the order is
    open), and it waits for the executor where it may say something (its fill of that tick comes first)."""
    ctx = make_run_dir(tmp_path)
    env = load_env("risk_role", tmp_path)
    env.config["execution"]["max_quote_age_ms"] = 1000
    role = build_role(env)
    assert isinstance(role, CoreRole)
    ts = 1_723_161_250_000 + 1000  # every tick below in one 5 s bar: only each symbol's first may close it
    tick_id = _publish(ctx, "market_ticks", "market_role", "market_tick", [{**TICK, "recv_perf_ns": 1}], ts)[0]
    signal = {**EXAMPLE_PAYLOADS["signal"], "cause_id": tick_id, "mseq": 0}  # BTCUSDT
    _publish(ctx, "signals", "strategy_role", "signal", [signal], ts)
    eth = {**TICK, "symbol": "ETHUSDT"}
    later = [(TICK, 50), (eth, 100), (TICK, 100), (eth, 160), (eth, 1101)]  # lines 1..5
    for n, (tick, after) in enumerate(later, start=2):
        _publish(ctx, "market_ticks", "market_role", "market_tick", [{**tick, "recv_perf_ns": n}], ts + after)
    _mark(ctx, "strategy_role", 4)  # ETHUSDT's first tick (line 2) may close a bar
    _mark(ctx, "execution_role", 0)
    try:
        # tick 0 and its signal (an order_intent), tick 1 (before the arrival), tick 2 (ETHUSDT, at it)
        assert role.run_once() == 4
        assert role.core.open_orders == 1  # type: ignore[attr-defined]
        assert role.runner.next_line["market_ticks"] == 3
        assert role.run_once() == 0  # tick 3, BTCUSDT at the arrival: the executor may fill there
        _mark(ctx, "execution_role", 3)
        assert role.run_once() == 2  # tick 3; tick 4 (ETHUSDT, 60 ms after the arrival)
        assert role.runner.next_line["market_ticks"] == 5
        assert role.run_once() == 0  # tick 5 is 1001 ms after the arrival: the order may expire as stale there
    finally:
        role.close()
