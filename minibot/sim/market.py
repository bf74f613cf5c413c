"""The whole simulated market: one `SymbolState` per symbol, each driven by a synthetic or replay feed,
all advanced to the same run-clock instant before any REST answer or stream push."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from minibot.marketdata.symbols import make_spec
from minibot.sim.replay import ReplayFeed, load_replay
from minibot.sim.state import Sink, SymbolState
from minibot.sim.synthetic import SyntheticFeed

# Aggregate trades kept in memory over all symbols (per symbol at least MIN_TRADES_KEPT).
TRADES_BUDGET = 2_000_000
MIN_TRADES_KEPT = 5_000
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT")


class Feed(Protocol):
    """Something that moves one symbol's state forward in run time."""

    def advance_to(self, t: int) -> None:
        """Apply every event up to run time `t`."""

    def next_due_ms(self) -> int | None:
        """Run time of the next event (None: no more events)."""


class Market:
    """All symbols, in the order they were given."""

    def __init__(self, states: dict[str, SymbolState], feeds: list[Feed], info: dict[str, object]) -> None:
        self.states = states
        self.feeds = feeds
        self.info = info
        self.now = 0
        self.replay_feeds: list[ReplayFeed] = []

    def advance_to(self, t: int) -> None:
        """Bring every symbol to run time `t` (never backwards)."""
        if t <= self.now:
            return
        self.now = t
        for feed in self.feeds:
            feed.advance_to(t)

    def next_due_ms(self) -> int | None:
        """Run time of the next event of any symbol (None: no feed has one)."""
        due = [d for d in (feed.next_due_ms() for feed in self.feeds) if d is not None]
        return min(due) if due else None

    def set_sink(self, sink: Sink) -> None:
        """Route every state's changes to `sink` (the WebSocket hub)."""
        for st in self.states.values():
            st.sink = sink


def build_market(
    symbols: Sequence[str], data_paths: Sequence[str | Path], seed: int, start_ms: int, loop: bool = True
) -> Market:
    """Replay feeds for the symbols found in `data_paths`, synthetic feeds for the other `symbols`."""
    replay = load_replay([Path(p) for p in data_paths], start_ms, loop)
    names = list(dict.fromkeys([s.upper() for s in symbols] + list(replay.symbols)))
    cap = max(MIN_TRADES_KEPT, TRADES_BUDGET // max(1, len(names)))
    states: dict[str, SymbolState] = {}
    feeds: list[Feed] = []
    replay_feeds: list[ReplayFeed] = []
    for name in names:
        feed: Feed
        if name in replay.symbols:
            state, replay_feed = replay.make(name, cap)
            replay_feeds.append(replay_feed)
            feed = replay_feed
        else:
            state = SymbolState(make_spec(name), cap)
            feed = SyntheticFeed(state, seed, start_ms)
        states[name] = state
        feeds.append(feed)
    synthetic = [n for n in names if n not in replay.symbols]
    market = Market(states, feeds, {"replay": replay.describe(), "synthetic": synthetic})
    market.advance_to(start_ms)  # trades up to the start are final before the first read
    market.replay_feeds = replay_feeds
    return market
