"""Pure parts of the simulator: kline arithmetic, weights, scenario validation, stream names."""

from __future__ import annotations

import re

import pytest

from minibot.sim.bars import BarSeries, bucket_close, bucket_open, query
from minibot.sim.scenario import ScenarioError, load_scenario
from minibot.sim.streams import parse_stream
from minibot.sim.weights import RateLimiter, request_weight


def test_bucket_boundaries() -> None:
    t = 1_723_161_255_342  # 2024-08-08 23:54:15.342 UTC, a Thursday
    assert bucket_open("1m", t) == 1_723_161_240_000
    assert bucket_close("1m", 1_723_161_240_000) == 1_723_161_299_999
    assert bucket_open("1d", t) == 1_723_075_200_000
    assert bucket_open("1w", t) == 1_722_816_000_000  # Monday 2024-08-05
    assert bucket_open("1M", t) == 1_722_470_400_000  # 2024-08-01
    assert bucket_close("1M", 1_722_470_400_000) == 1_725_148_799_999
    assert bucket_open("1d", t, tz_ms=8 * 3_600_000) == 1_723_132_800_000  # midnight in UTC+8


def test_bar_series_fills_gaps_and_queries_like_binance() -> None:
    s = BarSeries(60_000, 100)
    s.add_trade(60_000 + 5, 100, 2, 200, True, 1, 1)
    s.add_trade(60_000 + 9, 110, 1, 110, False, 2, 3)
    s.add_trade(240_000 + 1, 90, 1, 90, True, 4, 4)  # minutes 2 and 3 had no trades
    now = 400_000
    bars = query(s, "1m", None, None, 10, now)
    assert [b[0] for b in bars] == [60_000, 120_000, 180_000, 240_000, 300_000, 360_000]
    first = bars[0]
    assert first[1:5] == [100, 110, 100, 110] and first[5] == 3 and first[7] == 3 and first[8] == 2
    assert bars[1][1:5] == [110] * 4 and bars[1][7] == 0  # flat bar at the previous close
    assert [b[0] for b in query(s, "1m", 120_000, None, 2, now)] == [120_000, 180_000]
    assert [b[0] for b in query(s, "1m", None, 200_000, 2, now)] == [120_000, 180_000]
    assert [b[0] for b in query(s, "1m", 0, None, 1, now)] == [60_000]  # startTime=0: the first bar
    five = query(s, "5m", None, None, 5, now)
    assert [b[0] for b in five] == [0, 300_000]
    assert five[0][2] == 110 and five[0][3] == 90 and five[0][7] == 4 and five[0][10:] == [1, 4]


def test_request_weights() -> None:
    assert request_weight("/api/v3/exchangeInfo", {}) == 20
    assert request_weight("/api/v3/depth", {"limit": "100"}) == 5
    assert request_weight("/api/v3/depth", {"limit": "5000"}) == 250
    assert request_weight("/api/v3/ticker/24hr", {}) == 80
    assert request_weight("/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}) == 2
    assert request_weight("/api/v3/ticker/24hr", {"symbols": '["A","B"]'}) == 2
    assert request_weight("/api/v3/ticker/bookTicker", {}) == 4
    assert request_weight("/api/v3/aggTrades", {}) == 4


def test_rate_limiter_429_then_418_with_escalation() -> None:
    rl = RateLimiter(limit=10, ban_after=2, ban_ms=120_000)
    assert rl.charge("ip", 10, 1_000).status == 200
    v = rl.charge("ip", 1, 30_000)
    assert (v.status, v.used, v.retry_after_s) == (429, 11, 30)
    assert rl.charge("ip", 1, 31_000).status == 429
    banned = rl.charge("ip", 1, 32_000)
    assert banned.status == 418 and banned.retry_after_s == 120
    assert rl.charge("ip", 1, 100_000).status == 418  # still banned in the next minute
    assert rl.charge("ip", 1, 152_000).status == 200  # ban over, new window
    for t in range(152_001, 152_014):
        last = rl.charge("ip", 1, t)
    assert last.status == 418 and last.retry_after_s == 240  # second ban lasts twice as long


def test_scenario_validation_names_the_problem() -> None:
    ok = load_scenario(
        {"faults": [{"kind": "latency", "at_ms": 0, "duration_ms": 10, "delay_ms": 5}], "ws": {"ping_interval_s": 1}}
    )
    assert ok.faults[0].params["target"] == "rest" and ok.ws.ping_interval_s == 1
    bad = [
        ({"faults": [{"kind": "nope", "at_ms": 0}]}, "faults[0].kind"),
        ({"faults": [{"kind": "latency", "at_ms": 0}]}, "delay_ms: required"),
        ({"faults": [{"kind": "outage", "at_ms": 0, "mode": "explode"}]}, "faults[0].mode"),
        ({"faults": [{"kind": "outage", "at_ms": -1}]}, "at_ms"),
        ({"faults": [{"kind": "outage", "at_ms": 0, "colour": 1}]}, "unknown key(s) colour"),
        ({"ws": {"ping_every": 3}}, "ws: unknown key(s) ping_every"),
        ({"faults": [{"kind": "http_5xx", "at_ms": 0, "status": 404}]}, "status"),
        ({"faults": [{"kind": "ws_disconnect", "at_ms": 0, "duration_ms": 10, "every_ms": 5}]}, "every_ms"),
    ]
    for doc, needle in bad:
        with pytest.raises(ScenarioError, match=re.escape(needle)):
            load_scenario(doc)


def test_fault_windows_repeat() -> None:
    sc = load_scenario(
        {"faults": [{"kind": "ws_disconnect", "at_ms": 100, "duration_ms": 10, "every_ms": 50, "count": 2}]}
    )
    f = sc.faults[0]
    assert [f.occurrence(t) for t in (99, 100, 109, 110, 150, 159, 200)] == [None, 0, 0, None, 1, 1, None]


def test_stream_names() -> None:
    assert parse_stream("btcusdt@bookTicker").kind == "bookTicker"  # type: ignore[union-attr]
    k = parse_stream("ethusdt@kline_1m")
    assert k is not None and k.kind == "kline" and k.interval == "1m"
    d = parse_stream("btcusdt@depth10@100ms")
    assert d is not None and (d.levels, d.period_ms) == (10, 100)
    assert parse_stream("btcusdt@depth5") is not None and parse_stream("btcusdt@depth5").period_ms == 1000  # type: ignore[union-attr]
    diff = parse_stream("btcusdt@depth@100ms")
    assert diff is not None and (diff.kind, diff.period_ms) == ("diff", 100)
    assert parse_stream("btcusdt@depth").period_ms == 1000  # type: ignore[union-attr]
    assert parse_stream("btcusdt@ticker_4h").interval == "4h"  # type: ignore[union-attr]
    arr = parse_stream("!ticker_1h@arr")
    assert arr is not None and (arr.kind, arr.symbol, arr.interval) == ("arr", "", "ticker_1h")
    assert [parse_stream(f"btcusdt@{k}").kind for k in ("ticker", "miniTicker", "avgPrice")] == [  # type: ignore[union-attr]
        "ticker",
        "miniTicker",
        "avgPrice",
    ]
    bad = ("BTCUSDT@trade", "btcusdt@kline_7m", "btcusdt@depth7", "0", "btcusdt@ticker_2h", "!bookTicker@arr", "!x@arr")
    for other in (*bad, "btcusdt@depth@250ms", "!ticker@all"):
        assert parse_stream(other) is None


def test_window_starts_are_counted_even_for_instant_windows() -> None:
    f = load_scenario({"faults": [{"kind": "ws_disconnect", "at_ms": 100, "every_ms": 50, "count": 3}]}).faults[0]
    assert [f.starts_until(t) for t in (99, 100, 149, 150, 201, 10_000)] == [0, 1, 1, 2, 3, 3]
