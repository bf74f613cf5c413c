"""The simulator's order book: level bookkeeping, the change log behind diff events, depth fill and trim."""

from __future__ import annotations

from minibot.marketdata.symbols import make_spec
from minibot.sim.book import MAX_LEVELS, MIN_LEVELS, Book
from minibot.sim.state import SymbolState

E8 = 100_000_000


def test_diff_events_carry_the_net_change_of_their_id_range() -> None:
    st = SymbolState(make_spec("BTCUSDT"), 100, deep=True)
    tick = st.spec.tick
    st.set_book(1, 100 * E8, E8, 100 * E8 + tick, E8)
    st.open_diff("btcusdt@depth")
    first = st.update_id
    # Two updates touch the same ask level: the event carries its final quantity once.
    st.begin_update()
    st.book.set(False, 100 * E8 + tick, 3 * E8)
    st.commit_update(2, amend=False)
    st.begin_update()
    st.book.set(False, 100 * E8 + tick, 2 * E8)
    st.book.set(True, 100 * E8 - 5 * tick, 0)  # removing a level that never existed is still reported
    st.commit_update(3, amend=False)
    event = st.diff_event("btcusdt@depth")
    assert event is not None
    lo, hi, (bids, asks) = event
    assert (lo, hi) == (first + 1, first + 2)
    assert (100 * E8 + tick, 2 * E8) in asks and (100 * E8 - 5 * tick, 0) in bids
    assert st.diff_event("btcusdt@depth") is None  # nothing new
    # A skipped range (depth_gap) is consumed: the next event starts after it.
    st.set_book(4, 100 * E8, E8, 100 * E8 + tick, E8)
    assert st.diff_event("btcusdt@depth", skip=True) is None
    st.set_book(5, 100 * E8, 2 * E8, 100 * E8 + tick, E8)
    nxt = st.diff_event("btcusdt@depth")
    assert nxt is not None and nxt[0] == hi + 2 and nxt[1] == st.update_id


def test_the_log_keeps_only_what_the_slowest_diff_stream_needs() -> None:
    st = SymbolState(make_spec("ETHUSDT"), 100, deep=True)
    tick = st.spec.tick
    st.set_book(1, 3000 * E8, E8, 3000 * E8 + tick, E8)
    assert st.book.log_from is None and st.book.changes == []  # nobody listens: nothing logged
    st.open_diff("fast")
    st.open_diff("slow")
    for t in range(2, 12):
        st.set_book(t, 3000 * E8 - t * tick, E8, 3000 * E8 + t * tick, E8)
    assert st.diff_event("fast") is not None
    assert st.book.changes  # "slow" still needs them
    slow = st.diff_event("slow")
    assert slow is not None and st.book.changes == []
    st.close_diff("fast")
    st.close_diff("slow")
    assert st.book.log_from is None


def test_sides_are_filled_trimmed_and_never_crossed() -> None:
    book = Book(tick=1, step=1, seed=3)
    book.deep = True
    book.place_top(True, 1000, 5)
    book.place_top(False, 1002, 5)
    book.finish(10, amend=True)
    assert len(book.bids) == len(book.asks) == MIN_LEVELS
    # The price walks up 300 ticks: bids accumulate (trimmed at MAX_LEVELS), asks are taken and refilled.
    for step in range(1, 301):
        book.place_top(True, 1000 + step, 5)
        book.place_top(False, 1002 + step, 5)
        book.finish(10, amend=True)
        assert book.bids.prices[-1] < book.asks.prices[0]
        assert MIN_LEVELS <= len(book.bids) <= MAX_LEVELS and MIN_LEVELS <= len(book.asks) <= MAX_LEVELS
    assert book.bids.best() == (1300, 5) and book.asks.best() == (1302, 5)
    assert book.bids.top(3)[0] == (1300, 5) and [p for p, _ in book.asks.top(3)] == sorted(book.asks.prices[:3])
