"""After a power cut at any point, the restarted roles resume: no STOP (minibot/journal/ordering.py, R-P1).

Three emulated processes, each with its own write order, run the real journal code: market_role publishes
ticks (group commit), strategy_role turns each into a signal (EchoCore), risk_role answers each signal with a
risk_action. A recorder (tests/journal/power_cut.py) keeps every fsync; for every cut point the run folder is
rebuilt from what was durable then, market_role appends *different* ticks (a live feed does not repeat
itself), and the roles restart on it with their real recovery: every one must resume and catch up.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from minibot.contracts.core import Output
from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.ids import deterministic_id
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.flusher import FLUSHER
from minibot.journal.ordering import WriteOrder, using
from minibot.journal.producer import Producer
from minibot.roles.runner import RoleRunner, queue_events
from tests.journal.power_cut import Recorder
from tests.roles.echo_core import EchoCore

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the recorder reads /proc/self/fd")

RUN_ID = "20261128_111111"
HASH = "e" * 64
ROUNDS = 12


class AnswerCore:
    """risk_role's stand-in: one REJECT per signal, caused by it."""

    def step(self, event: Mapping[str, Any]) -> list[Output]:
        """A REJECT naming the signal."""
        return [Output("risk_action", {**EXAMPLE_PAYLOADS["risk_action"], "cause_id": event["id"]})]


def _context(run_dir: Path, always: bool) -> RunContext:
    overrides = {"signals": "always", "risk_actions": "always"} if always else {}
    queues = replace(
        scratch_queues(), base_dir="queues", fsync="group:2ms", fsync_overrides=overrides, segment_max_bytes=4096
    )
    return RunContext(run_dir, RUN_ID, HASH, lambda: int(time.time() * 1000), queues)


def _ticks(producer: Producer, tag: str, first: int, count: int) -> list[dict[str, Any]]:
    tick = EXAMPLE_PAYLOADS["market_tick"]
    return [producer.event("market_tick", tick, id_=deterministic_id(tag, str(n))) for n in range(first, first + count)]


class Processes:
    """The three roles, each bound to its own write order (its own process)."""

    def __init__(self, ctx: RunContext) -> None:
        with using(WriteOrder()) as self.market_order:
            self.market = ctx.producer("market_ticks", "market_role")
        with using(WriteOrder()) as self.strategy_order:
            self.strategy = RoleRunner(ctx, "strategy_role", EchoCore(), ["market_ticks"])
        with using(WriteOrder()) as self.risk_order:
            self.risk = RoleRunner(ctx, "risk_role", AnswerCore(), ["signals"])
        self.orders = [self.market_order, self.strategy_order, self.risk_order]

    def step(self, runner: RoleRunner, order: WriteOrder) -> int:
        """One round of a role as its process runs it: held, its group commit when the round ends (if due)."""
        with using(order), FLUSHER.held():
            done = runner.run_once()
            runner.flush_if_due()
        return done

    def round(self, rng: random.Random) -> int:
        """Both consumers' rounds in a random order, then the group commits some processes owe before they
        sleep, also in a random order: each process has its own flusher, so any of them may get ahead."""
        pair = [(self.strategy, self.strategy_order), (self.risk, self.risk_order)]
        done = sum(self.step(runner, order) for runner, order in rng.sample(pair, 2))
        for order in rng.sample(self.orders, rng.randint(0, 3)):
            order.commit_owed()
        return done

    def settle(self) -> None:
        """Wait for the flusher's jobs, so the recording is complete."""
        for order in self.orders:
            for job in list(order._jobs):
                job.wait()

    def close(self) -> None:
        """Close every file (after the cut: the run that resumed)."""
        self.market.close()
        self.strategy.close()
        self.risk.close()


@pytest.fixture(scope="module", params=["group", "always"])
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Recorder, bool]:
    """A recorded run: ROUNDS rounds of 1-3 ticks, with pauses of random length (none, shorter or longer
    than the group interval) so that some commits fall due and some not."""
    always = request.param == "always"
    run_dir = tmp_path_factory.mktemp("recorded")
    recorder = Recorder(run_dir)
    with pytest.MonkeyPatch.context() as monkeypatch:
        recorder.install(monkeypatch)
        procs = Processes(_context(run_dir, always))
        rng = random.Random(14)
        sent = 0
        for _ in range(ROUNDS):
            count = rng.randint(1, 3)
            with using(procs.market_order), FLUSHER.held():
                procs.market.publish(_ticks(procs.market, "before", sent, count))
            sent += count
            procs.round(rng)
            time.sleep(rng.choice((0.0, 0.0, 0.0005, 0.003)))
            procs.round(rng)
        procs.settle()
    # The consumers relied on their producers' durable watermarks (minibot/journal/watermark.py) for some of
    # their inputs: the cuts below check that skipping those fsyncs keeps every effect behind its cause.
    skipped = sum(c._input.skipped for runner in (procs.strategy, procs.risk) for _, c in runner.consumers)
    assert skipped or not always  # `always` signals are fsynced inline before risk_role reads them
    return recorder, always


def test_every_cut_point_resumes(recorded: tuple[Recorder, bool], tmp_path: Path) -> None:
    recorder, always = recorded
    assert recorder.cut_points() > 30  # the run fsynced often enough for the cut points to mean something
    failures: list[str] = []
    for cut in range(recorder.cut_points()):
        run_dir = tmp_path / f"cut{cut}"
        run_dir.mkdir()
        recorder.survivor(cut, run_dir)
        ctx = _context(run_dir, always)
        try:
            with using(WriteOrder()):
                market = ctx.producer("market_ticks", "market_role")
                market.publish(_ticks(market, "after", 0, 2))  # the feed goes on with other ticks
                market.close()
            procs = Processes(ctx)
            for _ in range(20):
                if procs.round(random.Random(cut)) == 0:
                    break
            procs.close()
        except Exception as exc:  # every cut point is checked, the failures listed together
            failures.append(f"cut {cut}: {type(exc).__name__}: {exc}")
            continue
        ticks = list(queue_events(ctx, "market_ticks"))
        signals = list(queue_events(ctx, "signals"))
        answers = list(queue_events(ctx, "risk_actions"))
        assert [s["payload"]["cause_id"] for s in signals] == [t["id"] for t in ticks], f"cut {cut}"
        assert [a["payload"]["cause_id"] for a in answers] == [s["id"] for s in signals], f"cut {cut}"
    assert not failures, f"{len(failures)} of {recorder.cut_points()} cut points STOP:\n" + "\n".join(failures[:8])
