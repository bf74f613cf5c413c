"""Pure parts of the market client: weights, clock skew, backoff, message parsing, config."""

from __future__ import annotations

import json
import random
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from minibot.config.binance import BinanceConfig
from minibot.market.clock_skew import ClockSkew, skew_from_round_trip
from minibot.market.config import default_section
from minibot.market.errors import Banned
from minibot.market.models import (
    DepthSnapshot,
    MalformedMessage,
    parse_agg_trade,
    parse_book_ticker,
    parse_stream_payload,
)
from minibot.market.weights import BOUNDARY_MARGIN_MS, WeightTracker
from minibot.market.ws import full_jitter_ms, stream_names

from .conftest import SteppedClock


def test_weight_tracker_slows_down_before_the_limit(clock: SteppedClock) -> None:
    clock.t = 28_333_334 * 60_000 + 10_000  # 10 s into a minute window
    tracker = WeightTracker(clock, limit=100, slow_fraction=0.8)
    tracker.observe(200, {"X-MBX-USED-WEIGHT-1M": "75"})
    assert tracker.wait_ms(5) == 0
    assert tracker.wait_ms(6) == 50_000 + BOUNDARY_MARGIN_MS  # would pass 80: wait for the next minute
    clock.advance(50_000)
    assert tracker.wait_ms(6) == BOUNDARY_MARGIN_MS  # the server's minute may not have turned yet
    clock.advance(BOUNDARY_MARGIN_MS)
    assert tracker.wait_ms(6) == 0 and tracker.used == 0


def test_weight_tracker_honours_retry_after(clock: SteppedClock) -> None:
    tracker = WeightTracker(clock)
    tracker.observe(429, {"Retry-After": "7", "X-MBX-USED-WEIGHT-1M": "6001"})
    assert tracker.wait_ms(1) == 7000 and tracker.rate_limited == 1
    clock.advance(7000)
    tracker.observe(200, {"X-MBX-USED-WEIGHT-1M": "1"})
    assert tracker.wait_ms(1) == 0


def test_weight_tracker_refuses_during_a_ban(clock: SteppedClock) -> None:
    tracker = WeightTracker(clock)
    until = clock.t + 120_000
    tracker.observe(418, {"Retry-After": "60"}, f'{{"code":-1003,"msg":"IP banned until {until}."}}')
    assert tracker.banned_until_ms == until  # the later of the body's time and Retry-After
    with pytest.raises(Banned) as info:
        tracker.check_ban()
    assert info.value.reason_code == "BINANCE_BANNED"
    clock.advance(120_000)
    tracker.check_ban()


def test_clock_skew_uses_the_midpoint_and_the_tightest_sample() -> None:
    sample = skew_from_round_trip(1000, 1100, 1550)
    assert (sample.skew_ms, sample.rtt_ms) == (500, 100)
    skew = ClockSkew(window=3)
    assert skew.estimate_ms is None
    skew.add(sample)
    skew.add(skew_from_round_trip(2000, 2010, 2505))  # rtt 10: tighter
    skew.add(skew_from_round_trip(3000, 3400, 3800))  # slow, consistent (600 +- 200): ignored
    assert (skew.estimate_ms, skew.bound_ms, skew.jumps) == (500, 5.0, 0)
    skew.add(skew_from_round_trip(4000, 4010, 9005))  # 5000 +- 5 contradicts every sample: a jump
    assert (skew.estimate_ms, len(skew.samples), skew.jumps) == (5000, 1, 1)
    with pytest.raises(ValueError):
        skew_from_round_trip(10, 5, 0)


def test_clock_skew_exceeds_a_limit_only_beyond_its_error_bound() -> None:
    skew = ClockSkew()
    assert not skew.exceeds(1000)  # no sample yet
    skew.add(skew_from_round_trip(0, 3000, 2700))  # 1200 +- 1500: a slow round trip proves no skew
    assert skew.estimate_ms == 1200 and not skew.exceeds(1000)
    skew.add(skew_from_round_trip(5000, 5100, 6250))  # 1200 +- 50: known to be beyond 1000 either way
    assert skew.estimate_ms == 1200 and skew.exceeds(1000) and not skew.exceeds(1150)
    negative = ClockSkew()
    negative.add(skew_from_round_trip(5000, 5100, 3850))  # -1200 +- 50
    assert negative.exceeds(1000)


def test_full_jitter_is_bounded_and_seeded() -> None:
    a, b = random.Random(7), random.Random(7)
    seq_a = [full_jitter_ms(a, n, 500, 30_000) for n in range(12)]
    assert seq_a == [full_jitter_ms(b, n, 500, 30_000) for n in range(12)]
    for n, delay in enumerate(seq_a):
        assert 0 <= delay <= min(30_000, 500 * 2**n)
    assert full_jitter_ms(random.Random(1), 10_000, 500, 30_000) <= 30_000


def test_stream_names_are_lowercase() -> None:
    assert stream_names(["BTCUSDT"], ["bookTicker", "aggTrade"]) == ["btcusdt@bookTicker", "btcusdt@aggTrade"]


def test_parsers_accept_the_documented_shapes() -> None:
    ws_book = {"u": 400900217, "s": "BNBUSDT", "b": "25.35", "B": "31.21", "a": "25.36", "A": "40.66"}
    book = parse_stream_payload("bnbusdt@bookTicker", ws_book)
    assert book == parse_book_ticker(ws_book) and book.bid == 25.35 and book.update_id == 400900217
    rest_book = {"symbol": "LTCBTC", "bidPrice": "4.0", "bidQty": "431", "askPrice": "4.2", "askQty": "9"}
    assert parse_book_ticker(rest_book, "rest").ask_qty == 9.0
    agg = {"e": "aggTrade", "E": 1672515782136, "s": "BNBBTC", "a": 12345, "p": "0.001", "q": "100",
           "f": 100, "l": 105, "T": 1672515782136, "m": True, "M": True}  # fmt: skip
    trade = parse_stream_payload("bnbbtc@aggTrade", agg)
    assert trade.agg_id == 12345 and trade.event_time == 1672515782136  # type: ignore[union-attr]
    rest_agg = {"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27781,
                "T": 1498793709153, "m": True, "M": True}  # fmt: skip
    assert parse_agg_trade(rest_agg, symbol="ETHBTC", source="rest").event_time is None
    raw = {
        "e": "trade",
        "E": 1,
        "s": "BNBBTC",
        "t": 12345,
        "p": "0.001",
        "q": "100",
        "T": 1,
        "m": True,
        "M": True,
    }
    assert parse_stream_payload("bnbbtc@trade", raw).price == 0.001


def test_partial_depth_takes_its_symbol_from_the_stream_name() -> None:
    # Reference §4.3: the partial-depth payload has no e, E or s.
    data = {"lastUpdateId": 160, "bids": [["0.0024", "10"]], "asks": [["0.0026", "100"]]}
    snap = parse_stream_payload("bnbbtc@depth20@100ms", data)
    assert snap == DepthSnapshot("BNBBTC", 160, ((0.0024, 10.0),), ((0.0026, 100.0),))
    assert parse_stream_payload("bnbbtc@depth5", data).symbol == "BNBBTC"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("stream", "data"),
    [
        ("btcusdt@bookTicker", {"s": "BTCUSDT", "b": "NaN", "B": "1", "a": "2", "A": "1"}),
        ("btcusdt@bookTicker", {"s": "BTCUSDT", "b": "0", "B": "1", "a": "2", "A": "1"}),
        ("btcusdt@bookTicker", {"s": "ETHUSDT", "b": "1", "B": "1", "a": "2", "A": "1"}),
        (
            "btcusdt@aggTrade",
            {"s": "BTCUSDT", "a": "1", "p": "1", "q": "1", "f": 1, "l": 1, "T": 1, "m": True},
        ),
        ("btcusdt@aggTrade", {"s": "BTCUSDT", "a": 1, "p": "1", "q": "1", "f": 1, "l": 1, "T": 1, "m": 1}),
        ("btcusdt@depth", {"s": "BTCUSDT"}),
        ("btcusdt@trade", [1, 2]),
        ("btcusdt@depth5@100ms", {"lastUpdateId": 1, "bids": [["2", "1"]], "asks": [["1", "1"]]}),  # crossed
        ("btcusdt@depth5@100ms", {"lastUpdateId": 1, "bids": [["1", "1"], ["2", "1"]], "asks": []}),  # unsorted
        ("btcusdt@depth5@100ms", {"lastUpdateId": 1, "bids": [["1", "0"]], "asks": []}),  # empty level
        ("btcusdt@depth5@100ms", {"lastUpdateId": 1, "bids": [["1"]], "asks": []}),
        ("btcusdt@depth5@100ms", {"lastUpdateId": "1", "bids": [], "asks": []}),
        ("btcusdt@depth7@100ms", {"lastUpdateId": 1, "bids": [], "asks": []}),
    ],
)
def test_parsers_reject_off_spec_payloads(stream: str, data: object) -> None:
    with pytest.raises(MalformedMessage):
        parse_stream_payload(stream, data)


def test_default_section_validates_against_its_schema() -> None:
    folder = resources.files("minibot.config")
    schema = json.loads(folder.joinpath("schema", "binance.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    section = default_section()
    assert list(validator.iter_errors(section)) == []
    assert section["rest_base_url"] == "https://api.binance.com"  # real endpoints by default
    assert section["ws_base_url"] == "wss://stream.binance.com:9443"
    cfg = BinanceConfig.from_config({"binance": section})
    assert cfg.depth_levels == 0  # depth ingest is opt-in
    assert {e.validator for e in validator.iter_errors(dict(section, depth_levels=15))} == {"enum"}
    assert cfg.health.unreachable_threshold_ms == 180_000 and cfg.proactive_reconnect_ms == 23 * 3_600_000
    bad = dict(section, extra=1, rest_base_url="https://api.binance.com/api/v3")
    messages = {e.validator for e in validator.iter_errors(bad)}
    assert {"additionalProperties", "pattern"} <= messages
