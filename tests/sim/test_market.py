"""The market models without a server: synthetic reproducibility and microstructure, replay fidelity."""

from __future__ import annotations

import gzip
import itertools
import math
import statistics
import zipfile
from pathlib import Path

import pytest

from minibot.marketdata.datafiles import DataFileError, scan
from minibot.marketdata.num import parse_e8
from minibot.sim.market import build_market
from minibot.sim.state import TRADES_KEPT_MS, expand
from tests.shared_data import ALGO_KLINES, BTC_TRADES, ETH_TRADES, XRP_AGG_11, XRP_AGG_12

START = 1_800_000_000_000


def _snapshot(market: object, symbol: str) -> tuple[object, ...]:
    st = market.states[symbol]  # type: ignore[attr-defined]
    return (st.bid, st.ask, st.bid_qty, st.ask_qty, st.update_id, tuple(st.aggs))


def test_synthetic_path_is_a_function_of_seed_and_time() -> None:
    a = build_market(["BTCUSDT", "ETHUSDT"], [], seed=42, start_ms=START)
    b = build_market(["ETHUSDT", "BTCUSDT", "SOLUSDT"], [], seed=42, start_ms=START)
    c = build_market(["BTCUSDT"], [], seed=43, start_ms=START)
    # Read the clock very differently: many small advances vs one jump.
    for t in range(START, START + 600_000, 37):
        a.advance_to(t)
    b.advance_to(START + 600_000 - 37)
    c.advance_to(START + 600_000 - 37)
    assert _snapshot(a, "BTCUSDT") == _snapshot(b, "BTCUSDT")
    assert _snapshot(a, "ETHUSDT") == _snapshot(b, "ETHUSDT")
    assert _snapshot(a, "BTCUSDT") != _snapshot(c, "BTCUSDT")
    assert a.states["BTCUSDT"].m1.bars == b.states["BTCUSDT"].m1.bars


def test_next_due_is_the_end_of_the_next_synthetic_step() -> None:
    """The simulator's pump sleeps until then instead of waking every few ms."""
    m = build_market(["BTCUSDT", "ETHUSDT"], [], seed=3, start_ms=START)
    due = m.next_due_ms()
    assert due is not None and START < due <= START + 100
    m.advance_to(due - 1)
    assert m.next_due_ms() == due
    m.advance_to(due)
    assert m.next_due_ms() == due + 100


@pytest.mark.parametrize("replayed", [False, True], ids=["synthetic", "replayed"])
def test_a_bar_served_as_closed_never_changes_afterwards(replayed: bool) -> None:
    # A synthetic step stamps its trades inside itself but makes them when it ends; starting 50 ms off the
    # 100 ms grid, a step straddles every second boundary. Bars are served up to `final_ms` (REST klines and
    # the kline stream), so a bar the stream announces closed already holds every trade it will ever have.
    start = START + 950
    market = build_market([] if replayed else ["ETHUSDT"], [ETH_TRADES] if replayed else [], 7, start)
    st = market.states["ETHUSDT"]
    first_closed: dict[int, list[int]] = {}
    for t in range(start, start + 30_000, 7):
        market.advance_to(t)
        assert t - 100 < st.final_ms <= t
        for bar in st.klines("1s", None, None, 3)[:-1]:
            first_closed.setdefault(bar[0], bar)
    assert len(first_closed) >= 29
    assert sum(bar[8] for bar in first_closed.values()) > 0  # trades happened in them
    for open_ms, bar in first_closed.items():
        assert st.klines("1s", open_ms, open_ms, 1) == [bar]


def test_synthetic_microstructure_is_plausible() -> None:
    m = build_market(["BTCUSDT", "DOGEUSDT", "ZZZQQQ"], [], seed=1, start_ms=START)
    spreads: dict[str, list[int]] = {s: [] for s in m.states}
    mids: dict[str, list[float]] = {s: [] for s in m.states}
    for t in range(START + 100, START + 1_800_000, 100):
        m.advance_to(t)
        for sym, st in m.states.items():
            spreads[sym].append((st.ask - st.bid) // st.spec.tick)
            mids[sym].append((st.ask + st.bid) / 2)
    for sym, st in m.states.items():
        spec = st.spec
        assert min(spreads[sym]) >= 1 and max(spreads[sym]) <= 6, sym
        assert statistics.mean(spreads[sym]) < 3.5
        aggs = st.aggs
        assert len(aggs) > 100, sym
        assert [a.a for a in aggs] == list(range(aggs[0].a, aggs[0].a + len(aggs)))  # contiguous agg ids
        assert all(nxt.f == cur.l + 1 for cur, nxt in itertools.pairwise(aggs))  # contiguous trade ids
        assert all(a.p % spec.tick == 0 and a.q % spec.step == 0 and a.q > 0 for a in aggs)
        assert all(sum(t.q for t in expand(a)) == a.q for a in aggs)
        assert {a.m for a in aggs} == {True, False}
        sizes = [a.q for a in aggs]
        assert max(sizes) > 5 * statistics.median(sizes)  # heavy-tailed (lognormal) sizes
        rets = [math.log(b / a) for a, b in zip(mids[sym][::600], mids[sym][600::600], strict=False)]
        assert 0 < statistics.pstdev(rets) < 0.05  # per-minute volatility: moving, but not absurd
        assert len(st.m1.bars) >= 500  # history before the start plus the live bars


def test_exchange_filters_match_real_binance_for_known_symbols() -> None:
    m = build_market(["BTCUSDT", "ETHUSDT"], [], seed=0, start_ms=START)
    btc = m.states["BTCUSDT"].spec
    assert (btc.tick, btc.step) == (parse_e8("0.01"), parse_e8("0.00001"))
    assert m.states["ETHUSDT"].spec.step == parse_e8("0.0001")


@pytest.mark.usefixtures("binance_data")
def test_replay_trades_file_is_exact_and_shifted() -> None:
    m = build_market([], [BTC_TRADES, ETH_TRADES], seed=0, start_ms=START)
    rows = [line.split(",") for line in BTC_TRADES.read_text().splitlines()]
    first_ts = int(rows[0][4])
    shift = START - first_ts  # both files overlap in time: one shared shift, relative timing kept
    assert m.info["replay"][0]["shift_ms"] == m.info["replay"][1]["shift_ms"]
    m.advance_to(START + 120_000)
    st = m.states["BTCUSDT"]
    fills = [t for a in st.aggs for t in expand(a)]
    expected = [r for r in rows if int(r[4]) + shift <= START + 120_000]
    assert len(fills) == len(expected) > 1000
    for fill, row in zip(fills, expected, strict=True):
        assert (fill.id, fill.p, fill.q, fill.T, fill.m) == (
            int(row[0]),
            parse_e8(row[1]),
            parse_e8(row[2]),
            int(row[4]) + shift,
            row[5] == "True",
        )
        assert fill.quote == parse_e8(row[3])
    assert [a.a for a in st.aggs] == list(range(st.aggs[0].a, st.aggs[0].a + len(st.aggs)))
    assert st.spec.tick == parse_e8("0.01")


@pytest.mark.usefixtures("binance_data")
def test_replay_aggtrades_two_days_and_loop_keeps_ids_contiguous() -> None:
    m = build_market([], [XRP_AGG_12, XRP_AGG_11], seed=0, start_ms=START)
    df11, df12 = scan(XRP_AGG_11), scan(XRP_AGG_12)
    span = df12.last_ts - df11.first_ts
    m.states["XRPETH"].keep_ms = span + 2 * 3_600_000  # keep every trade of both passes to compare them
    m.advance_to(START + span + 1000 + 3_600_000)  # the whole recording, then an hour into the second pass
    st = m.states["XRPETH"]
    ids = [a.a for a in st.aggs]
    assert ids[0] == 13519807 and ids == list(range(ids[0], ids[0] + len(ids)))
    assert len(ids) > 5929 + 4134
    first = st.aggs[0]
    assert (first.p, first.q, first.T) == (parse_e8("0.00141342"), parse_e8("23"), START)
    assert all(nxt.f == cur.l + 1 for cur, nxt in itertools.pairwise(st.aggs))


@pytest.mark.usefixtures("binance_data")
def test_replay_klines_serves_file_bars_and_synthesizes_trades_inside() -> None:
    m = build_market([], [ALGO_KLINES], seed=0, start_ms=START)
    m.advance_to(START + 600_000)
    st = m.states["ALGOUSDT"]
    with gzip.open(ALGO_KLINES, "rt") as f:
        rows = [line.strip().split(",") for line in f][1:12]
    fixed = st.fixed
    assert fixed is not None
    shift = fixed.bars[0][0] - int(rows[0][0])
    assert shift % 60_000 == 0 and fixed.bars[0][0] <= START
    for bar, row in zip(fixed.bars, rows, strict=False):
        assert bar[1:6] == [parse_e8(x) for x in row[1:6]] and bar[7] == int(row[8])
    # Synthesized trades reproduce each finished bar's OHLC and volume.
    for built in st.m1.bars[:-1]:
        src = next(b for b in fixed.bars if b[0] == built[0])
        assert built[1:6] == src[1:6]


def _write_variants(tmp: Path) -> dict[str, Path]:
    """The BTC trades as Binance publishes them today: zip, µs timestamps, with and without header."""
    lines = BTC_TRADES.read_text().splitlines()[:500]
    micros = []
    for line in lines:
        cols = line.split(",")
        cols[4] = str(int(cols[4]) * 1000 + 123)
        micros.append(",".join(cols))
    out = {}
    plain = tmp / "BTCUSDT-trades-2025-01-02.csv"
    plain.write_text("\n".join(micros) + "\n")
    out["us_plain"] = plain
    zipped = tmp / "BTCUSDT-trades-2025-01-03.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr(
            "BTCUSDT-trades-2025-01-03.csv",
            "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n" + "\n".join(micros) + "\n",
        )
    out["us_zip_header"] = zipped
    return out


@pytest.mark.usefixtures("binance_data")
def test_published_variants_parse_to_the_same_trades(tmp_path: Path) -> None:
    variants = _write_variants(tmp_path)
    a, b = scan(variants["us_plain"]), scan(variants["us_zip_header"])
    assert not a.has_header and b.has_header
    assert a.rows == b.rows == 500
    assert a.first_ts == int(BTC_TRADES.read_text().split(",", 5)[4])  # µs -> ms
    m = build_market([], [variants["us_zip_header"]], seed=0, start_ms=START)
    m.advance_to(START + 60_000)
    assert m.states["BTCUSDT"].aggs[0].f == 3735683259


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("BTCUSDT-trades-x.csv", "1,2,3\n", ":1: 3 columns"),
        (
            "BTCUSDT-trades-x.csv",
            "1,1.0,1.0,1.0,1700000000000,True,True\n2,1.0,x,1.0,1700000000001,True,True\n",
            ":2: not a decimal number",
        ),
        (
            "BTCUSDT-trades-x.csv",
            "1,1.0,1.0,1.0,1700000000005,True,True\n2,1.0,1.0,1.0,1700000000001,True,True\n",
            ":2: time goes backwards",
        ),
        ("BTCUSDT-trades-x.csv", "1,1.0,1.0,1.0,1700000000000,Yes,True\n", ":1: not a boolean"),
        ("BTCUSDT-aggTrades-x.csv", "1,1.0,1.0,1.0,1700000000000,True,True\n", ":1: 7 columns, but the file name"),
        ("BTCUSDT-1m-x.csv", "1700000000000,1,1,1,1,1,1700000119999,1,1,1,1,0\n", "not a replayable kline interval"),
        ("notes.txt", "hello\n", "cannot tell the symbol"),
        ("BTCUSDT-trades-x.csv", "", "no data rows"),
        ("BTCUSDT-trades-x.zip", "not a zip", "not a valid zip file"),
    ],
)
def test_bad_files_fail_with_file_and_line(tmp_path: Path, name: str, content: str, needle: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataFileError, match=needle) as info:
        build_market([], [path], seed=0, start_ms=START)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("replayed", [False, True], ids=["synthetic", "replayed"])
def test_trade_history_keeps_the_last_15_minutes_not_days(replayed: bool) -> None:
    # A looping replay of a busy recording (~62,000 aggregate trades a run hour here) kept it all before:
    # the simulator grew ~31 MB per run hour of a --sim-data night.
    m = build_market([] if replayed else ["BTCUSDT"], [BTC_TRADES] if replayed else [], seed=3, start_ms=START)
    st = m.states["BTCUSDT"]
    m.advance_to(START + 10 * 60_000)
    assert st.aggs[0].T < START + 60_000  # under 15 minutes old: everything is still there
    for hour in range(1, 4):
        m.advance_to(START + hour * 3_600_000)
        newest = st.aggs[-1].T
        # Trimmed every 1,024 trades: the last trim, within the last 1,024, kept 15 minutes back from its trade
        # (how long 1,024 trades take depends on the path's regimes); nothing within the 15 minutes is gone.
        assert st.aggs[0].T >= st.aggs[-1024].T - TRADES_KEPT_MS
        assert newest - TRADES_KEPT_MS + 60_000 >= st.aggs[0].T
        assert [a.a for a in st.aggs] == list(range(st.aggs[0].a, st.aggs[0].a + len(st.aggs)))
