"""REST endpoints over HTTP: Binance's field names and types, errors, weights, limits and violations."""

from __future__ import annotations

import re
import urllib.request

import pytest

from minibot.sim.runner import SimConfig, SimulatorThread

from .conftest import get_json

pytestmark = pytest.mark.process

DEC = re.compile(r"^\d+\.\d{8}$")


def test_ping_time_and_weight_headers(sim: SimulatorThread) -> None:
    status, headers, body = get_json(sim.base_url + "/api/v3/ping")
    assert (status, body) == (200, {})
    assert headers["Content-Type"] == "application/json;charset=UTF-8"
    used = int(headers["X-MBX-USED-WEIGHT-1M"])
    status, headers, body = get_json(sim.base_url + "/api/v3/time")
    assert isinstance(body["serverTime"], int) and body["serverTime"] > 1_600_000_000_000
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= used + 1 or int(headers["X-MBX-USED-WEIGHT-1M"]) == 1
    _, _, micro = get_json(sim.base_url + "/api/v3/time", {"X-MBX-TIME-UNIT": "MICROSECOND"})
    assert micro["serverTime"] > 10**15
    status, _, err = get_json(sim.base_url + "/api/v3/time", {"X-MBX-TIME-UNIT": "NANO"})
    assert (status, err["code"]) == (400, -1194)


def test_exchange_info_has_real_filters(sim: SimulatorThread) -> None:
    status, _, info = get_json(sim.base_url + "/api/v3/exchangeInfo")
    assert status == 200 and info["timezone"] == "UTC"
    assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT"}
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert (btc["baseAsset"], btc["quoteAsset"], btc["status"]) == ("BTC", "USDT", "TRADING")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert "MARKET_LOT_SIZE" in filters
    assert info["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }
    status, _, one = get_json(sim.base_url + '/api/v3/exchangeInfo?symbols=["ETHUSDT"]')
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]


def test_tickers_depth_trades_klines_shapes(sim: SimulatorThread) -> None:
    base = sim.base_url + "/api/v3"
    _, _, bt = get_json(base + "/ticker/bookTicker?symbol=BTCUSDT")
    assert set(bt) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty"}
    assert all(DEC.match(bt[k]) for k in ("bidPrice", "bidQty", "askPrice", "askQty"))
    assert float(bt["bidPrice"]) < float(bt["askPrice"])
    _, _, prices = get_json(base + "/ticker/price")
    assert [p["symbol"] for p in prices] == ["BTCUSDT", "ETHUSDT"] and DEC.match(prices[0]["price"])
    _, _, t24 = get_json(base + "/ticker/24hr?symbol=ETHUSDT")
    assert list(t24) == [
        "symbol",
        "priceChange",
        "priceChangePercent",
        "weightedAvgPrice",
        "prevClosePrice",
        "lastPrice",
        "lastQty",
        "bidPrice",
        "bidQty",
        "askPrice",
        "askQty",
        "openPrice",
        "highPrice",
        "lowPrice",
        "volume",
        "quoteVolume",
        "openTime",
        "closeTime",
        "firstId",
        "lastId",
        "count",
    ]
    assert t24["closeTime"] - t24["openTime"] == 86_400_000 and t24["count"] > 0
    assert float(t24["lowPrice"]) <= float(t24["lastPrice"]) <= float(t24["highPrice"])
    _, _, mini = get_json(base + "/ticker/24hr?type=MINI&symbol=ETHUSDT")
    assert "bidPrice" not in mini and "lastPrice" in mini
    _, _, rolling = get_json(base + "/ticker?symbol=BTCUSDT&windowSize=1h")
    assert rolling["closeTime"] - rolling["openTime"] == 3_600_000 and "prevClosePrice" not in rolling
    _, _, depth = get_json(base + "/depth?symbol=BTCUSDT&limit=20")
    assert len(depth["bids"]) == len(depth["asks"]) == 20 and isinstance(depth["lastUpdateId"], int)
    bids = [float(p) for p, _ in depth["bids"]]
    asks = [float(p) for p, _ in depth["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    _, _, trades = get_json(base + "/trades?symbol=BTCUSDT&limit=50")
    assert len(trades) == 50 and set(trades[0]) == {
        "id",
        "price",
        "qty",
        "quoteQty",
        "time",
        "isBuyerMaker",
        "isBestMatch",
    }
    assert [t["id"] for t in trades] == list(range(trades[0]["id"], trades[0]["id"] + 50))
    _, _, aggs = get_json(base + "/aggTrades?symbol=BTCUSDT&limit=20")
    assert set(aggs[0]) == {"a", "p", "q", "f", "l", "T", "m", "M"}
    _, _, again = get_json(base + f"/aggTrades?symbol=BTCUSDT&fromId={aggs[5]['a']}&limit=3")
    assert again == aggs[5:8]
    _, _, by_time = get_json(base + f"/aggTrades?symbol=BTCUSDT&startTime={aggs[0]['T']}&endTime={aggs[-1]['T']}")
    # startTime is inclusive: an older aggTrade with the same T as aggs[0] belongs in the answer too.
    ids = [a["a"] for a in by_time]
    assert ids == list(range(ids[0], ids[0] + len(ids))) and ids[0] <= aggs[0]["a"]
    assert all(aggs[0]["T"] <= a["T"] <= aggs[-1]["T"] for a in by_time)
    assert {a["a"] for a in aggs} <= set(ids)
    _, _, kl = get_json(base + "/klines?symbol=BTCUSDT&interval=1m&limit=5")
    assert len(kl) == 5 and all(k[6] == k[0] + 59_999 for k in kl)
    assert all(isinstance(k[0], int) and isinstance(k[8], int) and DEC.match(k[4]) and k[11] == "0" for k in kl)
    assert [k[0] for k in kl] == list(range(kl[0][0], kl[0][0] + 5 * 60_000, 60_000))
    _, _, hourly = get_json(base + "/klines?symbol=BTCUSDT&interval=1h&limit=3")
    assert all(k[0] % 3_600_000 == 0 for k in hourly)
    _, _, avg = get_json(base + "/avgPrice?symbol=BTCUSDT")
    assert avg["mins"] == 5 and DEC.match(avg["price"])


def test_binance_errors(sim: SimulatorThread) -> None:
    base = sim.base_url + "/api/v3"
    cases = [
        ("/depth?symbol=NOPEUSDT", 400, -1121),
        ("/depth", 400, -1102),
        ("/depth?symbol=btcusdt", 400, -1100),
        ("/klines?symbol=BTCUSDT&interval=7m", 400, -1120),
        ("/klines?symbol=BTCUSDT", 400, -1102),
        ("/klines?symbol=BTCUSDT&interval=1m&limit=abc", 400, -1100),
        ("/ticker/price?symbol=BTCUSDT&symbols=[%22BTCUSDT%22]", 400, -1128),
        ("/ticker/price?symbols=[oops", 400, -1135),
        ("/depth?symbol=BTCUSDT&symbol=ETHUSDT", 400, -1101),
        ("/exchangeInfo?symbol=NOPE", 400, -1121),
    ]
    for path, status, code in cases:
        got_status, headers, body = get_json(base + path)
        assert (got_status, body["code"]) == (status, code), path
        assert isinstance(body["msg"], str) and "X-MBX-USED-WEIGHT-1M" in headers


def test_order_and_account_requests_are_recorded_as_violations(sim: SimulatorThread) -> None:
    before = sim.stats()["violations_total"]
    status, _, body = get_json(sim.base_url + "/api/v3/account?timestamp=1&signature=abc")
    assert (status, body["code"]) == (401, -2014)
    status, _, body = get_json(sim.base_url + "/api/v3/openOrders", {"X-MBX-APIKEY": "k"})
    assert (status, body["code"]) == (401, -2015)
    req = urllib.request.Request(
        sim.base_url + "/api/v3/order", data=b"symbol=BTCUSDT&side=BUY&signature=x", method="POST"
    )
    status, _, body = get_json(sim.base_url + "/api/v3/order/test")
    assert status == 401
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as err:
        assert err.code == 401
    status, _, _ = get_json(sim.base_url + "/api/v3/ticker/price?symbol=BTCUSDT&signature=zz")
    assert status == 401  # a public path, but signed: still a violation
    stats = sim.stats()
    assert stats["violations_total"] == before + 5
    paths = [(v["method"], v["path"]) for v in stats["violations"][-5:]]
    assert paths == [
        ("GET", "/api/v3/account"),
        ("GET", "/api/v3/openOrders"),
        ("GET", "/api/v3/order/test"),
        ("POST", "/api/v3/order"),
        ("GET", "/api/v3/ticker/price"),
    ]
    assert stats["requests"]["/api/v3/order"] >= 1


def test_over_the_weight_limit_429_then_418() -> None:
    scenario = {"rate_limit": {"weight_per_minute": 50, "ban_after": 3, "ban_ms": 120_000}}
    with SimulatorThread(SimConfig(speed=1.0, scenario=scenario)) as s:
        statuses = []
        for _ in range(8):
            status, headers, body = get_json(s.base_url + "/api/v3/exchangeInfo")
            statuses.append(status)
            if status in (418, 429):
                assert body["code"] == -1003 and int(headers["Retry-After"]) > 0
        assert statuses[:2] == [200, 200] and statuses[2:5] == [429, 429, 429] and statuses[5:] == [418] * 3
        assert "banned until" in body["msg"] and int(headers["Retry-After"]) >= 100
        assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 100
        stats = s.stats()
        assert stats["statuses"]["429"] == 3 and stats["statuses"]["418"] == 3
        assert stats["weight_total"] >= 100 and stats["violations_total"] == 0
