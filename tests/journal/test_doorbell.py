"""Loopback doorbells (issue 14, item 1): a ring wakes a waiter at once, nothing depends on a ring arriving."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.doorbell import (
    Doorbell,
    Ringer,
    doorbell_path,
    queue_ringer,
    read_bell,
    ring_all,
    watermark_ring,
)
from minibot.journal.stop import stop
from minibot.reasons import ReasonCode
from minibot.roles.wake import Waker, WakeTimer

# Generous bounds: the machine running the tests is loaded; the point is "well before the timeout".
WAKE_BOUND_S = 2.0
LONG_WAIT_S = 30.0


def _ctx(run_dir: Path) -> RunContext:
    return RunContext(
        run_dir, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_700_000_000_000, scratch_queues(), queue_ringer
    )


def _tick(producer_ctx: RunContext, n: int = 1) -> int:
    producer = producer_ctx.producer("signals", "strategy_role")
    try:
        return producer.publish([producer.event("signal", EXAMPLE_PAYLOADS["signal"]) for _ in range(n)])
    finally:
        producer.close()


def _timed_wait(bell: Doorbell, timeout_s: float, out: list[tuple[bool, float]]) -> threading.Thread:
    def run() -> None:
        t0 = time.monotonic()
        rung = bell.wait(timeout_s)
        out.append((rung, time.monotonic() - t0))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_ring_wakes_a_waiter_long_before_its_timeout(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path, "risk_role")
    try:
        assert read_bell(doorbell_path(tmp_path, "risk_role")) == (bell.port, frozenset(), frozenset())
        out: list[tuple[bool, float]] = []
        thread = _timed_wait(bell, LONG_WAIT_S, out)
        time.sleep(0.05)
        Ringer(tmp_path, ["risk_role"]).ring()
        thread.join(LONG_WAIT_S)
        rung, waited = out[0]
        assert rung and waited < WAKE_BOUND_S
        assert not bell.wait(0.0)  # the ring was consumed
    finally:
        bell.close()


def test_an_append_rings_every_consumer_of_the_queue_and_only_them(tmp_path: Path) -> None:
    risk, watchdog = Doorbell(tmp_path, "risk_role"), Doorbell(tmp_path, "watchdog_role")
    try:
        out: list[tuple[bool, float]] = []
        thread = _timed_wait(risk, LONG_WAIT_S, out)
        time.sleep(0.05)
        assert _tick(_ctx(tmp_path)) == 1  # signals: consumed by risk_role only
        thread.join(LONG_WAIT_S)
        assert out[0][0] and out[0][1] < WAKE_BOUND_S
        assert not watchdog.wait(0.05)
    finally:
        risk.close()
        watchdog.close()


def test_a_missing_or_broken_port_file_or_a_dead_port_leaves_the_producer_unharmed(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert _tick(ctx) == 1  # no doorbell anywhere
    path = doorbell_path(tmp_path, "risk_role")
    path.parent.mkdir(parents=True)
    path.write_text("not a port")
    assert read_bell(path) is None
    assert _tick(ctx) == 1
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    path.write_text(f'{{"port": {closed.getsockname()[1]}}}')
    closed.close()  # a role that died: its port file stays behind
    ringer = Ringer(tmp_path, ["risk_role"])
    for _ in range(3):
        ringer.ring()  # never raises, never blocks
    assert _tick(ctx, 3) == 3


def test_a_restarted_role_is_rung_on_its_new_port_at_once(tmp_path: Path) -> None:
    old = Doorbell(tmp_path, "risk_role")
    ringer = Ringer(tmp_path, ["risk_role"])
    ringer.ring()
    assert old.wait(WAKE_BOUND_S)
    old.close()
    new = Doorbell(tmp_path, "risk_role")  # a new process: another port, the file replaced
    try:
        ringer.ring()
        assert new.wait(WAKE_BOUND_S)
    finally:
        new.close()


def test_a_lost_ring_costs_only_the_safety_net(tmp_path: Path) -> None:
    """The consumer's port file names a port nobody listens on: every ring is lost, yet a consumer that
    sleeps on its doorbell with the safety net still reads the event within about one safety-net period."""
    ctx = _ctx(tmp_path)
    consumer = ctx.consumer("signals", "risk_role")
    bell = Doorbell(tmp_path, "risk_role")
    stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stray.bind(("127.0.0.1", 0))
    doorbell_path(tmp_path, "risk_role").write_text(f'{{"port": {stray.getsockname()[1]}}}')
    stray.close()
    waker = Waker(bell, WakeTimer(replace(scratch_queues(), poll_interval_ms=200)))
    got: list[float] = []

    def consume() -> None:
        deadline = time.monotonic() + LONG_WAIT_S
        while time.monotonic() < deadline:
            if consumer.poll():
                got.append(time.monotonic())
                return
            assert not waker.sleep()  # never rung: the rings go to the stray port

    try:
        thread = threading.Thread(target=consume)
        thread.start()
        time.sleep(0.1)
        published = time.monotonic()
        _tick(ctx)
        thread.join(LONG_WAIT_S)
        assert got and got[0] - published < 0.2 + WAKE_BOUND_S
    finally:
        consumer.close()
        bell.close()


def test_a_stop_rings_every_role_of_the_run(tmp_path: Path) -> None:
    bells = [Doorbell(tmp_path, role) for role in ("market_role", "execution_role", "watchdog_role")]
    try:
        stop(_ctx(tmp_path), source="risk_role", component="test", reason_code=ReasonCode.INTERNAL_ERROR, detail="x")
        assert all(bell.wait(WAKE_BOUND_S) for bell in bells)
        ring_all(tmp_path)  # control rings reach every role, too
        assert all(bell.wait(WAKE_BOUND_S) for bell in bells)
    finally:
        for bell in bells:
            bell.close()


def test_a_waiter_without_a_ring_sleeps_its_timeout(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path, "strategy_role")
    try:
        t0 = time.monotonic()
        assert not bell.wait(0.2)
        assert time.monotonic() - t0 >= 0.19
    finally:
        bell.close()


def test_a_muted_queue_does_not_ring_but_unconditional_rings_do(tmp_path: Path) -> None:
    """risk_role mutes market_ticks (the strategy's watermark ring wakes it instead)."""
    bell = Doorbell(tmp_path, "risk_role")
    try:
        bell.mute(["signals"])
        assert read_bell(doorbell_path(tmp_path, "risk_role")) == (bell.port, frozenset({"signals"}), frozenset())
        assert _tick(_ctx(tmp_path)) == 1
        assert not bell.wait(0.2)
        Ringer(tmp_path, ["risk_role"]).ring()  # no queue: a watermark, a STOP, a shutdown request
        assert bell.wait(WAKE_BOUND_S)
    finally:
        bell.close()


def test_a_control_ring_is_told_apart_from_a_ring_for_new_lines(tmp_path: Path) -> None:
    """A STOP or a shutdown request rings with the control byte, so the role reads its control files only
    then (and at the safety net); an append or a watermark does not make it look, and a stray datagram
    counts as a control ring (one wasted look, never a missed one)."""
    bell = Doorbell(tmp_path, "risk_role")
    try:
        assert _tick(_ctx(tmp_path)) == 1
        Ringer(tmp_path, ["risk_role"]).ring()  # a watermark
        assert bell.wait(WAKE_BOUND_S)
        assert not bell.take_control()
        stop(
            _ctx(tmp_path), source="strategy_role", component="test", reason_code=ReasonCode.INTERNAL_ERROR, detail="x"
        )
        assert bell.wait(WAKE_BOUND_S)
        assert bell.take_control()
        assert not bell.take_control()  # consumed
        stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stray.sendto(b"?", ("127.0.0.1", bell.port))
        stray.close()
        assert bell.wait(WAKE_BOUND_S) and bell.take_control()
    finally:
        bell.close()


def test_a_ring_names_its_queue_or_its_role(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path, "risk_role")
    try:
        Ringer(tmp_path, ["risk_role"], ring=watermark_ring("execution_role")).ring()
        assert bell.wait(WAKE_BOUND_S)
        assert not bell.take_control()
        assert bell.take_rings() == (frozenset(), frozenset({"execution_role"}))
        Ringer(tmp_path, ["risk_role"]).ring()
        assert bell.wait(WAKE_BOUND_S)
        assert bell.take_rings() == (frozenset({""}), frozenset())  # new lines of a queue it does not name
        Ringer(tmp_path, ["risk_role"], "market_ticks").ring()
        Ringer(tmp_path, ["risk_role"], "signals").ring()
        assert bell.wait(WAKE_BOUND_S)
        time.sleep(0.05)
        bell.drain()  # the second datagram too, if the wait woke on the first alone
        assert bell.take_rings() == (frozenset({"market_ticks", "signals"}), frozenset())
        assert not bell.take_control()
    finally:
        bell.close()


def test_a_role_that_unmutes_is_rung_from_the_next_append_on(tmp_path: Path) -> None:
    """The producer stats the doorbell file at every ring, so a mute or unmute counts from its next ring
    (execution_role unmutes market_ticks when an order opens and needs every tick at once)."""
    bell = Doorbell(tmp_path, "execution_role")
    try:
        ringer = Ringer(tmp_path, ["execution_role"], "market_ticks")
        bell.mute(("market_ticks",))
        ringer.ring()
        assert not bell.wait(0.2)
        bell.mute(())
        ringer.ring()
        assert bell.wait(WAKE_BOUND_S)
        assert bell.take_rings() == (frozenset({"market_ticks"}), frozenset())
    finally:
        bell.close()


def test_a_sparse_listener_is_rung_for_urgent_batches_only(tmp_path: Path) -> None:
    """strategy_role listens to market_ticks sparsely: market_role rings it only for a batch holding a tick
    that may close a bar; every other consumer of the queue is rung for every batch."""
    strategy, execution = Doorbell(tmp_path, "strategy_role"), Doorbell(tmp_path, "execution_role")
    try:
        strategy.mute((), sparse=("market_ticks",))
        assert read_bell(doorbell_path(tmp_path, "strategy_role")) == (
            strategy.port,
            frozenset(),
            frozenset({"market_ticks"}),
        )
        ringer = Ringer(tmp_path, ["strategy_role", "execution_role"], "market_ticks")
        ringer.ring(urgent=False)
        assert execution.wait(WAKE_BOUND_S)
        assert not strategy.wait(0.2)
        ringer.ring(urgent=True)
        assert strategy.wait(WAKE_BOUND_S) and execution.wait(WAKE_BOUND_S)
        assert strategy.take_rings() == (frozenset({"market_ticks"}), frozenset())
        strategy.mute()
        ringer.ring(urgent=False)  # no longer sparse: rung from the next ring on
        assert strategy.wait(WAKE_BOUND_S)
    finally:
        strategy.close()
        execution.close()
