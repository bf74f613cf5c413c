"""TickBuilder: payloads per message kind, conflation of book updates, trades waiting for a first book."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minibot.contracts.envelope import build_envelope, validate_event
from minibot.ids import random_id
from minibot.market.models import AggTrade, BookTicker, DepthSnapshot, Trade
from minibot.reasons import NoreError, ReasonCode
from minibot.roles.tick_builder import MAX_TRADES_WAITING_FOR_BOOK, TickBuilder

T0 = 1_700_000_000_000


def book(bid: float = 100.0, ask: float = 100.2, symbol: str = "BTCUSDT", source: str = "ws") -> BookTicker:
    return BookTicker(symbol, bid, 1.5, ask, 2.5, 7, source)  # type: ignore[arg-type]


def agg(agg_id: int, price: float = 100.1, symbol: str = "BTCUSDT") -> AggTrade:
    return AggTrade(symbol, agg_id, price, 0.25, agg_id * 2, agg_id * 2 + 1, T0 + agg_id, T0 + agg_id + 1, False)


def validate(payload: dict[str, object]) -> None:
    """The payload passes the market_tick contract inside a full envelope."""
    event = build_envelope(
        type_="market_tick",
        payload=payload,
        ts=T0,
        id_=random_id(),
        source="market_role",
        run_id="20260101_000000",
        cmdline_hash="0" * 64,
    )
    validate_event(event)


def test_book_tick_is_mid_with_null_trade_fields() -> None:
    (tick,) = TickBuilder(0).on_message(book(100.0, 100.2, source="rest"), T0, 123)
    validate(tick)
    assert tick["kind"] == "book" and tick["price"] == pytest.approx(100.1)
    assert (tick["bid"], tick["ask"], tick["bid_qty"], tick["ask_qty"]) == (100.0, 100.2, 1.5, 2.5)
    assert tick["exchange_ts"] is None and tick["trade_id"] is None
    assert tick["conflated"] == 0 and tick["recv_perf_ns"] == 123 and tick["origin"] == "rest"


def test_trade_ticks_carry_trade_price_and_latest_book() -> None:
    builder = TickBuilder(0)
    builder.on_message(book(100.0, 100.2), T0, 1)
    builder.on_message(book(101.0, 101.4), T0 + 1, 2)
    (tick,) = builder.on_message(agg(5, 101.1), T0 + 2, 3)
    validate(tick)
    assert tick["kind"] == "agg_trade" and tick["price"] == 101.1 and tick["qty"] == 0.25
    assert tick["trade_id"] == 5 and tick["exchange_ts"] == T0 + 5
    assert (tick["bid"], tick["ask"]) == (101.0, 101.4)
    raw = Trade("BTCUSDT", 42, 101.2, 0.5, T0 + 9, None, True)
    (tick,) = builder.on_message(raw, T0 + 3, 4)
    validate(tick)
    assert tick["kind"] == "trade" and tick["trade_id"] == 42 and tick["exchange_ts"] == T0 + 9


def test_trades_wait_for_the_first_book_in_order() -> None:
    builder = TickBuilder(250)
    assert builder.on_message(agg(1), T0, 1) == []
    assert builder.on_message(agg(2), T0, 2) == []
    ticks = builder.on_message(book(), T0 + 1, 3)
    assert [(t["kind"], t["trade_id"]) for t in ticks] == [("book", None), ("agg_trade", 1), ("agg_trade", 2)]
    assert all(t["bid"] == 100.0 for t in ticks)


def test_a_symbol_with_trades_but_never_a_book_stops() -> None:
    builder = TickBuilder(0)
    for i in range(MAX_TRADES_WAITING_FOR_BOOK):
        builder.on_message(agg(i + 1), T0, i)
    with pytest.raises(NoreError) as info:
        builder.on_message(agg(MAX_TRADES_WAITING_FOR_BOOK + 1), T0, 0)
    assert info.value.reason_code is ReasonCode.MARKET_DATA_STALE and "BTCUSDT" in info.value.detail


def test_repeated_trade_ids_are_counted_not_emitted() -> None:
    builder = TickBuilder(0)
    builder.on_message(book(), T0, 0)
    assert len(builder.on_message(agg(3), T0, 0)) == 1
    assert builder.on_message(agg(3), T0, 0) == [] and builder.on_message(agg(2), T0, 0) == []
    assert builder.duplicates == 2 and len(builder.on_message(agg(4), T0, 0)) == 1


def test_conflation_leading_edge_then_latest_at_window_end() -> None:
    builder = TickBuilder(250)
    assert len(builder.on_message(book(100.0), T0, 1)) == 1  # first: at once
    assert builder.on_message(book(100.1), T0 + 50, 2) == []
    assert builder.on_message(book(100.2), T0 + 100, 3) == []
    assert builder.due(T0 + 249) == []
    (tick,) = builder.due(T0 + 250)
    assert tick["bid"] == 100.2 and tick["conflated"] == 1 and tick["recv_perf_ns"] == 3
    # The window restarts at the release: an update right after waits for it to end.
    assert builder.on_message(book(100.3), T0 + 260, 4) == []
    assert builder.due(T0 + 499) == [] and len(builder.due(T0 + 500)) == 1
    # After a quiet period the next update goes out at once again.
    assert len(builder.on_message(book(100.4), T0 + 2000, 5)) == 1


def test_a_conflated_book_is_stamped_with_the_end_of_its_window() -> None:
    # perf_at maps run-clock ms to the perf counter (here: ns = 1000 * (ms - T0)), as RunClock.perf_ns_at does.
    builder = TickBuilder(250, perf_at=lambda ms: (ms - T0) * 1000)
    (first,) = builder.on_message(book(100.0), T0, 7)
    assert first["recv_perf_ns"] == 7 and builder.next_due_ms() is None  # out at once: its own receipt
    assert builder.on_message(book(100.1), T0 + 50, 50_000) == [] and builder.next_due_ms() == T0 + 250
    # Released 30 ms after its window ended: the pipeline's delay counts from the window's end (250 ms after
    # T0), not from the update's receipt (the hold is the data policy) nor from the late release.
    (held,) = builder.due(T0 + 280)
    assert held["recv_perf_ns"] == 250_000 and builder.next_due_ms() is None
    # An update received after the window ended but before the release: its own receipt is later, it counts.
    builder.on_message(book(100.2), T0 + 300, 300_000)
    builder.on_message(book(100.3), T0 + 540, 540_000)
    (late,) = builder.due(T0 + 545)
    assert late["recv_perf_ns"] == 540_000
    # At the end of the run a held book goes out before its window ends: stamped at the flush.
    builder.on_message(book(100.4), T0 + 600, 600_000)
    (flushed,) = builder.flush(T0 + 700)
    assert flushed["recv_perf_ns"] == 700_000


def test_next_due_names_the_end_of_the_first_held_window() -> None:
    """market_role sleeps until then (minibot/roles/wake.py): no polling for conflated books."""
    builder = TickBuilder(250)
    assert builder.next_due_ms() is None
    builder.on_message(book(100.0), T0, 1)
    assert builder.next_due_ms() is None  # the leading edge went out at once: nothing held
    builder.on_message(book(100.1), T0 + 50, 2)
    builder.on_message(book(100.0, symbol="ETHUSDT"), T0 + 60, 3)
    builder.on_message(book(100.1, symbol="ETHUSDT"), T0 + 70, 4)
    assert builder.next_due_ms() == T0 + 250  # BTCUSDT's window ends first
    assert len(builder.due(T0 + 250)) == 1
    assert builder.next_due_ms() == T0 + 310
    builder.due(T0 + 310)
    assert builder.next_due_ms() is None


def test_books_due_together_go_out_in_the_order_they_were_held() -> None:
    """Windows end in one order (BTC, then ETH), the books were held in the other: one `due` that releases
    both keeps the held order, one that releases only the first window's book leaves the other held."""
    for now, expected in ((T0 + 120, ["ETHUSDT", "BTCUSDT"]), (T0 + 105, ["BTCUSDT"])):
        builder = TickBuilder(100)
        builder.on_message(book(symbol="BTCUSDT"), T0, 0)  # BTCUSDT's window ends at T0 + 100
        builder.on_message(book(symbol="ETHUSDT"), T0 + 10, 0)  # ETHUSDT's at T0 + 110
        builder.on_message(book(99.0, 99.5, symbol="ETHUSDT"), T0 + 20, 0)  # held first
        builder.on_message(book(99.0, 99.5, symbol="BTCUSDT"), T0 + 30, 0)
        assert builder.next_due_ms() == T0 + 100
        assert [t["symbol"] for t in builder.due(now)] == expected
        assert [t["symbol"] for t in builder.flush(now)] == ["ETHUSDT", "BTCUSDT"][: 2 - len(expected)]
        assert builder.next_due_ms() is None and builder.due(now + 1000) == []


def test_conflation_is_per_symbol_and_never_holds_trades() -> None:
    builder = TickBuilder(1000)
    builder.on_message(book(symbol="BTCUSDT"), T0, 0)
    assert len(builder.on_message(book(symbol="ETHUSDT"), T0 + 1, 0)) == 1
    assert builder.on_message(book(99.0, 99.5, symbol="BTCUSDT"), T0 + 2, 0) == []
    (tick,) = builder.on_message(agg(1), T0 + 3, 0)
    assert (tick["bid"], tick["ask"]) == (99.0, 99.5)  # the held book is the latest book
    (held,) = builder.flush()
    assert held["symbol"] == "BTCUSDT" and held["conflated"] == 0 and builder.flush() == []


@settings(max_examples=200, deadline=None)
@given(
    conflation=st.sampled_from([0, 1, 100, 250, 1000]),
    steps=st.lists(st.tuples(st.integers(0, 400), st.sampled_from(["BTCUSDT", "ETHUSDT"])), max_size=200),
)
def test_every_book_update_is_a_tick_or_counted(conflation: int, steps: list[tuple[int, str]]) -> None:
    """Accounting: book updates = book ticks + sum(conflated); per symbol at most one tick per window."""
    builder = TickBuilder(conflation)
    now = T0
    emitted: list[tuple[int, dict[str, object]]] = []
    for gap, symbol in steps:
        now += gap
        emitted += [(now, t) for t in builder.due(now)]
        emitted += [(now, t) for t in builder.on_message(book(symbol=symbol), now, 0)]
    flushed = builder.flush()
    released = [t for _, t in emitted] + flushed
    assert len(released) + sum(int(str(t["conflated"])) for t in released) == len(steps)
    if conflation:
        for symbol in ("BTCUSDT", "ETHUSDT"):
            times = [at for at, t in emitted if t["symbol"] == symbol]
            assert all(b - a >= conflation for a, b in pairwise(times))


def depth(uid: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> DepthSnapshot:
    return DepthSnapshot("BTCUSDT", uid, tuple(bids), tuple(asks))


def test_ticks_carry_levels_behind_the_book_ticker_top() -> None:
    builder = TickBuilder(0, depth_levels=3)
    # No depth yet: the book tick has no levels (the fields are optional).
    (first,) = builder.on_message(BookTicker("BTCUSDT", 100.0, 1.5, 100.2, 2.5, 7, "ws"), T0, 1)
    assert "bids" not in first
    snap = depth(9, [(100.1, 4.0), (100.0, 3.0), (99.9, 2.0), (99.8, 1.0)], [(100.2, 5.0), (100.3, 6.0), (100.5, 7.0)])
    (tick,) = builder.on_message(snap, T0 + 10, 2)
    validate(tick)
    # Level 0 is the bookTicker's (bid 100.0 x 1.5): the snapshot's 100.1 bid is at/through it and dropped,
    # its 100.0 level is replaced by the bookTicker's quantity; three levels per side.
    assert tick["bids"] == [[100.0, 1.5], [99.9, 2.0], [99.8, 1.0]]
    assert tick["asks"] == [[100.2, 2.5], [100.3, 6.0], [100.5, 7.0]]
    assert tick["depth_update_id"] == 9 and tick["kind"] == "book"
    (trade,) = builder.on_message(agg(5), T0 + 20, 3)
    assert trade["bids"] == tick["bids"] and trade["asks"] == tick["asks"]


def test_depth_updates_are_conflated_and_old_or_repeated_snapshots_dropped() -> None:
    builder = TickBuilder(250, depth_levels=5)
    builder.on_message(book(), T0, 1)
    out = builder.on_message(depth(10, [(99.9, 1.0)], [(100.3, 1.0)]), T0 + 10, 2)
    assert out == []  # inside the book's window: held
    assert builder.on_message(depth(8, [(99.0, 1.0)], [(101.0, 1.0)]), T0 + 20, 3) == []
    assert builder.on_message(depth(10, [(99.0, 1.0)], [(101.0, 1.0)]), T0 + 30, 3) == []
    assert (builder.depth_out_of_order, builder.depth_updates) == (1, 1)
    (tick,) = builder.due(T0 + 250)
    assert tick["conflated"] == 0 and tick["depth_update_id"] == 10
    assert tick["bids"] == [[100.0, 1.5], [99.9, 1.0]] and tick["asks"] == [[100.2, 2.5], [100.3, 1.0]]


def test_stale_depth_is_not_carried() -> None:
    builder = TickBuilder(0, depth_levels=5, depth_max_age_ms=1000)
    builder.on_message(book(), T0, 1)  # bookTicker update id 7
    (fresh,) = builder.on_message(depth(7, [(99.9, 1.0)], [(100.3, 1.0)]), T0, 2)
    assert fresh["depth_update_id"] == 7
    # The book moves on (update id 8 > 7) and the depth stream stops advancing.
    moved = BookTicker("BTCUSDT", 100.1, 1.0, 100.3, 1.0, 8, "ws")
    (within,) = builder.on_message(moved, T0 + 1000, 3)
    assert within["bids"] == [[100.1, 1.0], [99.9, 1.0]] and within["asks"] == [[100.3, 1.0]]
    (late,) = builder.on_message(agg(1), T0 + 1001, 4)
    assert "bids" not in late and builder.depth_stale == 1
    # A snapshot that catches up makes levels fresh again.
    (again,) = builder.on_message(depth(8, [(100.1, 1.0), (100.0, 2.0)], [(100.3, 1.0)]), T0 + 1002, 5)
    assert again["bids"] == [[100.1, 1.0], [100.0, 2.0]]


def test_depth_is_ignored_when_not_configured() -> None:
    builder = TickBuilder(0)
    builder.on_message(book(), T0, 1)
    assert builder.on_message(depth(9, [(99.9, 1.0)], [(100.3, 1.0)]), T0, 2) == []
    (tick,) = builder.on_message(agg(1), T0, 3)
    assert "bids" not in tick and builder.depth_updates == 0
