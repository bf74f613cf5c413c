"""200 symbols: the streams are split over several connections within Binance's and HTTP's limits."""

from __future__ import annotations

import itertools

import pytest

from minibot.market.models import BookTicker
from minibot.market.streamgroup import MAX_URL_CHARS, plan_connections
from minibot.market.ws import stream_names

from .simharness import run

BASE = "wss://stream.binance.com:9443"
SYMBOLS_200 = [f"S{i:03d}USDT" for i in range(200)]


def _url(part: list[str]) -> str:
    return BASE + "/stream?streams=" + "/".join(part)


def test_few_streams_take_one_connection() -> None:
    names = stream_names(["BTCUSDT", "ETHUSDT"], ["bookTicker", "aggTrade", "trade"])
    assert plan_connections(BASE, names) == [names]


def test_200_symbols_split_in_order_within_the_url_and_stream_limits() -> None:
    names = stream_names(SYMBOLS_200, ["bookTicker", "aggTrade", "trade", "depth20@100ms"])
    parts = plan_connections(BASE, names)
    assert [n for part in parts for n in part] == names
    assert all(len(_url(part)) <= MAX_URL_CHARS for part in parts)
    # The fewest parts: no part could have taken the next part's first name.
    assert all(len(_url([*a, b[0]])) > MAX_URL_CHARS for a, b in itertools.pairwise(parts))


def test_stream_count_limit_splits_too() -> None:
    names = [f"s{i}@trade" for i in range(10)]
    assert [len(p) for p in plan_connections(BASE, names, max_url=10_000, max_streams=4)] == [4, 4, 2]


def test_a_name_too_long_for_any_url_is_refused() -> None:
    with pytest.raises(ValueError, match="alone makes a URL longer"):
        plan_connections(BASE, ["x" * MAX_URL_CHARS])


@pytest.mark.process
def test_200_symbols_flow_from_the_simulator_over_several_connections() -> None:
    result = run(None, 3_000, speed=1.0, symbols=SYMBOLS_200)  # 1x: 200 symbols are ~2,400 frames a second
    assert result.reason is None, result.stop_detail
    streamed = {m.symbol for m in result.messages if isinstance(m, BookTicker) and m.source != "rest"}
    assert streamed == set(SYMBOLS_200)
    assert result.feed_stats["ws_connects"] >= 2 and result.feed_stats["ws_malformed"] == 0
