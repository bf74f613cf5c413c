"""`BarCloses`: the ticks it says cannot close a bar never carry a strategy signal (issue 14: strategy_role
holds them and risk_role passes them without waiting for the strategy, so a miss would break the timeline)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from minibot.strategies import StrategyCore
from minibot.strategies.bars import BarCloses

from ..core.builders import T0, tick
from .helpers import bar_ticks, cfg

FALLING = [100.0 - i for i in range(20)]
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def _signal_ticks(core: StrategyCore, events: list[dict]) -> set[str]:
    return {out.payload["cause_id"] for e in events for out in core.step(e) if out.type == "signal"}


def test_the_closing_tick_of_a_bar_is_flagged_and_ticks_inside_it_are_not() -> None:
    closes = BarCloses(1000)
    assert closes.feed("BTCUSDT", T0)  # first tick of a symbol: unknown before, so it may close
    assert not closes.feed("BTCUSDT", T0 + 999)
    assert not closes.feed("BTCUSDT", T0 - 5)  # a step back stays in the open bar, as in the strategy
    assert closes.feed("ETHUSDT", T0 + 999)
    assert closes.feed("BTCUSDT", T0 + 1000)
    assert not closes.feed("ETHUSDT", T0 + 1000 - (T0 + 1000) % 1000 - 1)


def test_every_signal_of_a_falling_market_is_at_a_flagged_tick() -> None:
    ticks = bar_ticks(FALLING)
    inside = [tick(c - 0.5, e["ts"] + 400, 1000 + i) for i, (c, e) in enumerate(zip(FALLING, ticks, strict=False))]
    events = sorted(ticks + inside, key=lambda e: e["ts"])
    closes = BarCloses(1000)
    flagged = {e["id"] for e in events if closes.feed(e["payload"]["symbol"], e["ts"])}
    signals = _signal_ticks(StrategyCore(cfg()), events)
    assert signals, "the falling market must signal, or this test shows nothing"
    assert signals <= flagged
    assert len(flagged) < len(events)  # and the ticks inside the bars were not flagged


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(SYMBOLS), st.integers(-300, 2500), st.floats(-3.0, 3.0)), min_size=1, max_size=300
    )
)
def test_no_signal_is_ever_made_at_a_tick_it_did_not_flag(steps: list[tuple[str, int, float]]) -> None:
    """Random walks of two symbols, time steps of -0.3 .. 2.5 bars (backwards, inside a bar, gaps)."""
    ts, price = T0, dict.fromkeys(SYMBOLS, 100.0)
    events = []
    for n, (symbol, dt, move) in enumerate(steps):
        ts += dt
        price[symbol] = max(1.0, price[symbol] + move)
        events.append(tick(price[symbol], ts, n, symbol=symbol))
    closes = BarCloses(1000)
    flagged = {e["id"] for e in events if closes.feed(e["payload"]["symbol"], e["ts"])}
    assert _signal_ticks(StrategyCore(cfg()), events) <= flagged
