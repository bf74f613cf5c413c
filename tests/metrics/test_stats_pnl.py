"""Percentiles (nearest rank) and the journal-derived PnL tracker, checked by hand."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minibot.metrics import pnl as pnl_module
from minibot.metrics.pnl import Fill, PnlTracker, Tick, compare_figures, pnl_figures
from minibot.metrics.stats import Samples, summarize
from minibot.model.portfolio import Portfolio
from minibot.reasons import RiskBreach


def test_percentiles_are_nearest_rank_observed_values() -> None:
    s = summarize([float(v) for v in range(100, 0, -1)])  # 1..100 in reverse
    assert (s["count"], s["p50"], s["p95"], s["p99"], s["max"], s["mean"]) == (100, 50.0, 95.0, 99.0, 100.0, 50.5)
    two = Samples()
    two.add(20.0)
    two.add(10.0)
    assert (two.summary()["p50"], two.summary()["p95"]) == (10.0, 20.0)  # never 19.5: a latency that happened
    assert summarize([7.25])["p99"] == 7.25
    assert summarize([]) == {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}


@given(st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=1, max_size=300))
def test_percentiles_match_numpys_inverted_cdf(values: list[float]) -> None:
    # the supervisor's plain-Python percentiles are numpy's nearest-rank definition, value for value
    s = summarize(values)
    expected = np.percentile(np.asarray(values), (50, 95, 99), method="inverted_cdf")
    assert [s["p50"], s["p95"], s["p99"]] == [float(v) for v in expected]
    assert s["max"] == max(values)
    assert s["mean"] == pytest.approx(float(np.mean(values)), rel=1e-12, abs=1e-12)


class Fed:
    """A tracker and everything fed to it, in order: its history for a start-over (what the collector
    re-reads from the journals)."""

    def __init__(self, initial_cash: float, settle_ms: int = pnl_module.SETTLE_MS) -> None:
        self.ticks: list[Tick] = []
        self.fills: list[Fill] = []
        self.history_reads = 0
        self.tracker = PnlTracker(initial_cash, settle_ms=settle_ms, history=self.history)

    def history(self) -> tuple[list[Tick], list[Fill]]:
        self.history_reads += 1
        return self.ticks, self.fills

    def add_tick(self, ts: int, symbol: str, bid: float, ask: float) -> None:
        self.ticks.append((ts, symbol, bid, ask))
        self.tracker.add_tick(ts, symbol, bid, ask)

    def add_fill(self, ts: int, payload: dict[str, Any]) -> None:
        self.fills.append((ts, payload))
        self.tracker.add_fill(ts, payload)

    def figures(self) -> dict[str, Any]:
        return self.tracker.figures()


def fill(side: str, qty: float, price: float, fee: float, n: int, symbol: str = "BTCUSDT") -> dict[str, Any]:
    return {"order_id": f"o{n}", "symbol": symbol, "side": side, "qty": qty, "price": price, "fee": fee}


def test_hand_computed_round_trips() -> None:
    t = Fed(10_000.0)
    t.add_tick(1000, "BTCUSDT", 99.0, 101.0)
    t.add_fill(1000, fill("BUY", 10.0, 100.0, 1.0, 1))  # cash 8999
    t.add_tick(2000, "BTCUSDT", 89.0, 91.0)  # mark 90: equity 8999 + 900 = 9899
    t.add_fill(3000, fill("SELL", 10.0, 110.0, 1.1, 2))  # realized (110-100)*10 - 1.1 - 1 = 97.9
    t.add_fill(4000, fill("BUY", 5.0, 100.0, 0.5, 3))
    t.add_fill(5000, fill("SELL", 5.0, 96.0, 0.48, 4))  # realized (96-100)*5 - 0.48 - 0.5 = -20.98
    f = t.figures()
    assert f["realized_pnl"] == pytest.approx(97.9 - 20.98, abs=1e-9)
    assert f["equity"] == pytest.approx(10_000 + 97.9 - 20.98, abs=1e-9) and f["unrealized_pnl"] == 0
    assert (f["trips"], f["wins"], f["losses"], f["win_rate"]) == (2, 1, 1, 0.5)
    assert f["rr"] == pytest.approx(97.9 / 20.98)
    # Peak 10000 (start), lowest equity 9899 at the mark: drawdown 1.01 %.
    assert f["max_drawdown"] == pytest.approx(101 / 10_000) and f["max_drawdown_pct"] == pytest.approx(1.01)
    assert f["fees_paid"] == pytest.approx(1.0 + 1.1 + 0.5 + 0.48)


def test_open_position_is_marked_at_the_latest_mid() -> None:
    t = Fed(1_000.0)
    t.add_fill(10, fill("BUY", 1.0, 100.0, 0.0, 1))
    t.add_tick(20, "BTCUSDT", 104.0, 106.0)
    f = t.figures()
    assert f["unrealized_pnl"] == 5.0 and f["total_pnl"] == 5.0
    assert f["open_positions"] == {"BTCUSDT": {"qty": 1.0, "avg_price": 100.0, "mark": 105.0}}


def test_incremental_equals_one_pass_bit_for_bit_even_with_late_fills() -> None:
    """Figures read every few events (with checkpoints and late fills forcing a restart) equal one pass."""
    rng = random.Random(7)
    events: list[tuple[str, int, Any]] = []
    ts, held, n = 0, 0.0, 0
    for _ in range(3000):
        ts += rng.randint(0, 400_000)
        sym = rng.choice(["BTCUSDT", "ETHUSDT"])
        mid = 100 + rng.random() * 10
        events.append(("tick", ts, (sym, mid - 0.01, mid + 0.01)))
        if sym == "BTCUSDT" and rng.random() < 0.05:
            n += 1
            side = "SELL" if held > 0 and rng.random() < 0.5 else "BUY"
            qty = held if side == "SELL" else 0.5
            held = 0.0 if side == "SELL" else held + qty
            late = rng.random() < 0.2  # the fill is written well after newer ticks (a lagging role)
            events.append(("fill", ts - (50_000_000 if late else 0), fill(side, qty, mid, 0.01, n)))
    live, offline = Fed(100_000.0, settle_ms=600_000), Fed(100_000.0)
    for i, (kind, when, data) in enumerate(events):
        for t in (live, offline):
            if kind == "tick":
                t.add_tick(when, *data)
            else:
                t.add_fill(when, data)
        if i % 97 == 0:
            live.figures()
    assert live.figures() == offline.figures()
    assert live.tracker.start_overs > 0 and offline.tracker.start_overs == 0  # the late fills forced replays
    assert live.history_reads == live.tracker.start_overs and offline.history_reads == 0
    assert not compare_figures(live.figures(), offline.figures())
    # Bounded: only what is newer than the checkpoint (10 minutes of run clock) is held, not the 3000 ticks.
    assert len(live.tracker._tick_ts) < 100


def test_inconsistent_fills_raise() -> None:
    t = Fed(1_000.0)
    t.add_fill(1, fill("SELL", 1.0, 100.0, 0.0, 1))
    with pytest.raises(RiskBreach):
        t.figures()


def test_compare_figures_names_each_difference() -> None:
    pf = Portfolio(1_000.0)
    pf.apply_fill(fill("BUY", 1.0, 100.0, 0.1, 1))
    good = pnl_figures(pf)
    bad = {**good, "realized_pnl": 1.0, "trips": 3}
    bad["open_positions"] = {"BTCUSDT": {**good["open_positions"]["BTCUSDT"], "qty": 2.0}}
    diffs = compare_figures(bad, good)
    assert len(diffs) == 3 and diffs[0].startswith("realized_pnl: metrics.json has 1.0")
    assert any(d.startswith("open_positions.BTCUSDT.qty") for d in diffs)
    assert compare_figures({**good, "equity": good["equity"] * (1 + 1e-12)}, good) == []


def one_pass(ticks: list[Tick], fills: list[Fill]) -> dict[str, Any]:
    """The figures of everything at once (no figures asked before: no checkpoint, no start-over)."""
    t = Fed(100_000.0)
    for tick in ticks:
        t.add_tick(*tick)
    for f in fills:
        t.add_fill(*f)
    figures = t.figures()
    assert t.tracker.start_overs == 0
    return figures


def test_a_start_over_streams_with_checkpoints_and_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A start-over folds the history again with a checkpoint every few events (bounded), and the result is
    the one-pass result bit for bit; a tick far out of journal order makes it replay once more without."""
    monkeypatch.setattr(pnl_module, "REPLAY_SETTLE_EVERY", 5)
    rng = random.Random(11)
    ticks: list[Tick] = []
    fills: list[Fill] = []
    ts, n = 0, 0
    for i in range(400):
        ts += rng.randint(1, 300_000)
        mid = 100 + rng.random()
        # tick 200 is stamped 2 hours early (more than settle_ms behind the ticks before it in the journal)
        ticks.append((ts - (7_200_000 if i == 200 else 0), "BTCUSDT", mid - 0.01, mid + 0.01))
        if i < 200 and rng.random() < 0.1:
            n += 1
            late = rng.choice([0, 0, 30_000_000])
            fills.append((ts - late, fill("BUY" if n % 2 else "SELL", 1.0, mid, 0.01, n)))
    held: list[int] = []  # ticks held when a checkpoint is taken
    settle = PnlTracker._settle

    def counting_settle(self: PnlTracker) -> None:
        held.append(len(self._tick_ts))
        settle(self)

    monkeypatch.setattr(PnlTracker, "_settle", counting_settle)
    live = Fed(100_000.0)
    for i, tick in enumerate(ticks[:200]):
        live.add_tick(*tick)
        if i % 50 == 49:
            live.figures()
    for f in fills:  # written long after the ticks (a lagging execution_role): behind the checkpoint
        live.add_fill(*f)
    expected = one_pass(ticks[:200], fills)
    held.clear()
    assert live.figures() == expected
    assert live.tracker.start_overs == 1 and len(held) > 30 and max(held) <= 5 + 20  # streamed, bounded
    for tick in ticks[200:]:  # tick 200 is older than the checkpoint: a start-over that must go without
        live.add_tick(*tick)
    expected = one_pass(ticks, fills)
    held.clear()
    assert live.figures() == expected
    assert live.tracker.start_overs == 2 and max(held) >= 400


def test_events_in_merge_order_extend_the_live_portfolio_and_a_late_fill_replays_from_a_recent_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In-order ticks and fills are applied to the live portfolio once each, as they come; a fill stamped a
    few ticks back makes the next call replay only what came after the newest earlier figures call it sorts
    after, and one older than every kept copy replays from the checkpoint; the figures equal one pass all
    along (issue 14: at --speed 60 the replays from the checkpoint were a third of the supervisor's CPU)."""
    applied: list[int] = []  # events applied per call to a live portfolio (not to the checkpoint)
    apply = PnlTracker._apply

    def counting_apply(self: PnlTracker, pf: Portfolio, events: list[tuple[int, int, int]]) -> None:
        if pf is not self._cp:
            applied.append(len(events))
        apply(self, pf, events)

    monkeypatch.setattr(PnlTracker, "_apply", counting_apply)
    rng = random.Random(3)
    ticks: list[Tick] = []
    fills: list[Fill] = []
    live = Fed(100_000.0)
    for k in range(1, 600):
        mid = 100 + rng.random()
        ticks.append((k * 10_000, "BTCUSDT", mid - 0.01, mid + 0.01))
        live.add_tick(*ticks[-1])
        if k % 50 == 0:  # a fill at its tick's time: in the merge order (ticks first at equal times)
            fills.append((k * 10_000, fill("BUY" if k % 100 else "SELL", 1.0, mid, 0.01, k)))
            live.add_fill(*fills[-1])
        live.figures()
    assert sum(applied) == len(ticks) + len(fills)  # each event once
    assert live.figures() == one_pass(ticks, fills)
    applied.clear()
    # Stamped 2.5 ticks back: after the copy of the call at tick 596, before ticks 597..599.
    fills.append((599 * 10_000 - 25_000, fill("SELL", 1.0, 100.0, 0.01, 600)))
    live.add_fill(*fills[-1])
    figures = live.figures()
    assert applied[0] == 4  # ticks 597, 598, 599 and the fill; not the ~40 ticks since the checkpoint
    assert figures == one_pass(ticks, fills) and live.tracker.start_overs == 0
    applied.clear()
    # A tick stamped 20 ticks back (newer than the checkpoint, older than every kept copy): from the checkpoint.
    ticks.append((599 * 10_000 - 205_000, "BTCUSDT", 99.99, 100.01))
    live.add_tick(*ticks[-1])
    figures = live.figures()
    assert applied[0] == len(live.tracker._tick_ts) + len(live.tracker._fill_time)  # every kept event
    assert figures == one_pass(ticks, fills) and live.tracker.start_overs == 0


def test_a_checkpoint_keeps_only_the_copies_that_hold_every_event_it_folds() -> None:
    """A copy taken before an event the checkpoint then folds (a fill at its time, given after the copy) is
    dropped at that checkpoint: a late tick that sorts after the copy rebuilds from the checkpoint, and the
    figures equal one pass."""
    ticks: list[Tick] = []
    fills: list[Fill] = []
    live = Fed(100_000.0, settle_ms=100_000)  # checkpoints at ticks 4, 7, 10 (20 s apart) fold to 100 s
    for k in range(1, 11):
        ticks.append((k * 20_000, "BTCUSDT", 99.99, 100.01))
        live.add_tick(*ticks[-1])
        live.figures()  # a copy per call
        if k == 5:  # after the copy at tick 5, at its time: in merge order, folded at tick 10
            fills.append((100_000, fill("BUY", 1.0, 100.0, 0.01, 1)))
            live.add_fill(*fills[-1])
    assert live.tracker._cp_ts == 100_000
    ticks.append((110_000, "BTCUSDT", 89.99, 90.01))  # late: after the copy at tick 5, before the one at 6
    live.add_tick(*ticks[-1])
    assert live.figures() == one_pass(ticks, fills)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=90_000),  # gap to the previous tick (ms)
            st.booleans(),  # ETHUSDT rather than BTCUSDT
            st.floats(min_value=0.0, max_value=1.0),  # where the mid sits in its range
            st.sampled_from(["none", "none", "fill", "late", "later"]),  # a fill after it, and how late
            st.booleans(),  # figures asked after it
        ),
        min_size=1,
        max_size=120,
    )
)
def test_figures_asked_at_any_points_equal_one_pass_with_late_fills(
    steps: list[tuple[int, bool, float, str, bool]],
) -> None:
    """Whatever the lateness of fills (a few ticks, more than the kept copies hold, behind the checkpoint) and
    wherever figures are asked, the live figures equal one pass over the same journals bit for bit."""
    ticks: list[Tick] = []
    fills: list[Fill] = []
    live = Fed(100_000.0, settle_ms=300_000)
    ts, held = 0, 0.0
    for n, (gap, eth, at, fill_kind, ask) in enumerate(steps):
        ts += gap
        mid = 100 + at
        symbol = "ETHUSDT" if eth else "BTCUSDT"
        ticks.append((ts, symbol, mid - 0.01, mid + 0.01))
        live.add_tick(*ticks[-1])
        if fill_kind != "none" and symbol == "BTCUSDT":
            side = "SELL" if held > 0 else "BUY"
            held = 0.0 if side == "SELL" else 1.0
            late = {"fill": 0, "late": 25_000, "later": 400_000}[fill_kind]
            fills.append((ts - late, fill(side, 1.0, mid, 0.01, n)))
            live.add_fill(*fills[-1])
        if ask:
            live.figures()
    assert live.figures() == one_pass(ticks, fills)


@pytest.mark.parametrize("fills_first", [True, False], ids=["fills-then-ticks", "ticks-then-fills"])
def test_a_long_read_without_figures_is_folded_as_it_goes(monkeypatch: pytest.MonkeyPatch, fills_first: bool) -> None:
    """A backlog read in one go (`nore backtest`'s final read, `nore verify`) is folded every KEEP_MAX ticks
    instead of held. Read as the collector reads it (fills first), no fill is older than a checkpoint; read
    ticks first, every fill is, and the tracker starts over from its history: the same figures either way."""
    rng = random.Random(11)
    ticks: list[Tick] = []
    fills: list[Fill] = []
    held = 0.0
    for n in range(5000):
        mid = 100 + rng.random() * 10
        ticks.append((n * 1000, "BTCUSDT", mid - 0.01, mid + 0.01))
        if rng.random() < 0.02:
            side = "SELL" if held > 0 else "BUY"
            held = 0.0 if side == "SELL" else 1.0
            fills.append((n * 1000, fill(side, 1.0, mid, 0.01, n)))
    expected = one_pass(ticks, fills)
    monkeypatch.setattr(pnl_module, "KEEP_MAX", 256)
    live = Fed(100_000.0, settle_ms=60_000)  # 60 ticks
    if fills_first:
        for f in fills:
            live.add_fill(*f)
    most = 0
    for tick in ticks:
        live.add_tick(*tick)
        most = max(most, len(live.tracker._tick_ts))
    if not fills_first:
        for f in fills:
            live.add_fill(*f)
    assert most <= 256, f"{most} ticks held at once"
    assert live.figures() == expected
    assert live.tracker.start_overs == (0 if fills_first else 1)
