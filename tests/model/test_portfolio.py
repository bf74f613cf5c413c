"""Portfolio: PnL and fee arithmetic by hand, round-trip statistics, invariants and exact rebuild/snapshot."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minibot.model.portfolio import Portfolio
from minibot.reasons import ReasonCode, RiskBreach


def fill(side: str, qty: float, price: float, fee: float, symbol: str = "BTCUSDT", n: int = 0) -> dict[str, Any]:
    return {
        "order_id": f"paper-{n}",
        "client_order_id": f"nore-{n}",
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "price": price,
        "fee": fee,
        "fee_asset": "USDT",
        "liquidity": "TAKER",
        "cause_id": "x",
    }


def test_pnl_and_fees_by_hand() -> None:
    pf = Portfolio(10_000.0)
    assert pf.apply_fill(fill("BUY", 0.5, 100.0, 0.05)) is None
    assert pf.cash == 9949.95  # 10000 - 50 - 0.05
    pf.mark("BTCUSDT", 110.0)
    assert pf.equity() == pytest.approx(10004.95)  # 9949.95 + 0.5 * 110
    assert pf.unrealized_pnl() == pytest.approx(4.95)  # (110 - 100) * 0.5 - 0.05 entry fee
    # Sell 40 %: realized = (110 - 100) * 0.2 - 0.022 sell fee - 0.05 * 0.4 entry fee share = 1.958
    assert pf.apply_fill(fill("SELL", 0.2, 110.0, 0.022)) is None
    assert pf.realized_pnl == pytest.approx(1.958) and pf.cash == 9971.928
    # Sell the rest at a loss: (90 - 100) * 0.3 - 0.027 - 0.03 = -3.057; the trip nets 1.958 - 3.057 = -1.099
    trip = pf.apply_fill(fill("SELL", 0.3, 90.0, 0.027))
    assert trip == pytest.approx(-1.099) and pf.positions == {}
    assert pf.cash == 9998.901 and pf.equity() - 10_000.0 == pytest.approx(pf.realized_pnl)
    assert pf.fees_paid == pytest.approx(0.099)
    assert pf.stats()["losses"] == 1 and pf.stats()["win_rate"] == 0.0


def test_average_price_and_drawdown() -> None:
    pf = Portfolio(1_000.0)
    pf.apply_fill(fill("BUY", 1.0, 100.0, 0.0))
    pf.apply_fill(fill("BUY", 3.0, 104.0, 0.0))
    assert pf.positions["BTCUSDT"].avg_price == 103.0  # (100 + 3 * 104) / 4
    pf.mark("BTCUSDT", 105.0)  # equity 588 + 420 = 1008: new peak
    pf.mark("BTCUSDT", 80.8)  # equity 588 + 323.2 = 911.2, 9.6 % below the peak
    assert pf.peak_equity == pytest.approx(1008.0)
    assert pf.max_drawdown == pytest.approx((1008.0 - 911.2) / 1008.0)
    assert pf.drawdown() == pytest.approx(pf.max_drawdown)


def test_win_rate_and_reward_to_risk() -> None:
    pf = Portfolio(10_000.0)
    for buy, sell in ((100.0, 110.0), (100.0, 95.0), (100.0, 120.0)):  # +10, -5, +20 on 1 unit, no fees
        pf.apply_fill(fill("BUY", 1.0, buy, 0.0))
        pf.apply_fill(fill("SELL", 1.0, sell, 0.0))
    stats = pf.stats()
    assert (stats["trips"], stats["wins"], stats["losses"]) == (3, 2, 1)
    assert stats["win_rate"] == pytest.approx(2 / 3)
    assert (stats["avg_win"], stats["avg_loss"], stats["rr"]) == (15.0, 5.0, 3.0)
    assert Portfolio(1.0).stats()["rr"] is None


@pytest.mark.parametrize(
    "bad",
    [
        fill("SELL", 0.1, 100.0, 0.0),  # nothing held: long-only
        fill("BUY", 200.0, 100.0, 0.0),  # cash would go negative
        fill("BUY", 0.1, float("inf"), 0.0),
        fill("BUY", 0.1, 100.0, -1.0),
        fill("HOLD", 0.1, 100.0, 0.0),
        {**fill("BUY", 0.1, 100.0, 0.01), "fee_asset": "BNB"},
    ],
)
def test_inconsistent_fills_raise(bad: dict[str, Any]) -> None:
    with pytest.raises(RiskBreach) as exc:
        Portfolio(10_000.0).apply_fill(bad)
    assert exc.value.reason_code == ReasonCode.RISK_INCONSISTENT


def test_snapshot_rejects_tampering() -> None:
    pf = Portfolio(10_000.0)
    pf.apply_fill(fill("BUY", 0.5, 100.0, 0.05))
    snap = pf.snapshot()
    snap["cash"] += 1.0
    with pytest.raises(RiskBreach):
        Portfolio.from_snapshot(snap)


# Random valid sequences: each step is a BUY of some steps, a SELL of a share of the position, or a mark.
_step = st.tuples(
    st.sampled_from(["BUY", "SELL", "MARK"]),
    st.sampled_from(["BTCUSDT", "ETHUSDT"]),
    st.integers(min_value=1, max_value=500),  # qty in 1e-5 steps / sell share in 1/500
    st.integers(min_value=1_000_000, max_value=9_000_000),  # price in cents
    st.integers(min_value=0, max_value=20),  # fee in bps
)


def _play(steps: list[tuple[str, str, int, int, int]]) -> tuple[Portfolio, list[dict[str, Any]], Portfolio]:
    """Apply the steps to one portfolio (with marks) and the fills alone to another."""
    pf, fills_only, fills = Portfolio(10_000.0), Portfolio(10_000.0), []
    for i, (kind, sym, q, cents, fee_bps) in enumerate(steps):
        price = cents / 100
        if kind == "MARK":
            pf.mark(sym, price)
            continue
        if kind == "BUY":
            qty = q / 100_000
        else:
            held = pf.position_qty(sym)
            if held <= 0:
                continue
            qty = held if q >= 250 else round(held * q / 500, 5) or held
        fee = round(qty * price * fee_bps / 10_000, 8)
        if kind == "BUY" and qty * price + fee > pf.cash:
            continue
        f = fill(kind, qty, price, fee, sym, i)
        pf.apply_fill(f)
        fills_only.apply_fill(f)
        fills.append(f)
    return pf, fills, fills_only


@settings(max_examples=150, deadline=None)
@given(st.lists(_step, max_size=60))
def test_portfolio_invariants(steps: list[tuple[str, str, int, int, int]]) -> None:
    pf, fills, fills_only = _play(steps)
    marked = pf.cash + sum(p.qty * p.mark for p in pf.positions.values())
    assert pf.equity() == pytest.approx(marked, rel=1e-12, abs=1e-9)
    assert pf.equity() - pf.initial_cash == pytest.approx(pf.realized_pnl + pf.unrealized_pnl(), abs=1e-6)
    assert pf.cash >= 0 and all(p.qty > 0 for p in pf.positions.values())
    stats = pf.stats()
    assert stats["trips"] == stats["wins"] + stats["losses"]
    # Rebuilding from the fills journal gives exactly the snapshot of a portfolio that only saw fills.
    assert Portfolio.rebuild(fills, 10_000.0).snapshot() == fills_only.snapshot()
    # Marks do not change the accounting, only marks / peak / drawdown.
    account = ("cash", "realized_pnl", "fees_paid", "fills", "wins", "losses", "gross_win", "gross_loss")
    assert {k: pf.snapshot()[k] for k in account} == {k: fills_only.snapshot()[k] for k in account}
    # ledger() is exactly that fill-determined part, marks or not (the executor's restart check uses it).
    assert pf.ledger() == Portfolio.rebuild(fills, 10_000.0).ledger()
    # The snapshot survives JSON exactly.
    snap = pf.snapshot()
    restored = Portfolio.from_snapshot(orjson.loads(orjson.dumps(snap)))
    assert orjson.dumps(restored.snapshot()) == orjson.dumps(snap)


_SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"]


@settings(max_examples=300, deadline=None)
@given(
    st.permutations(_SYMBOLS),
    st.lists(st.integers(min_value=1, max_value=99_999), min_size=5, max_size=5),
    st.lists(st.integers(min_value=100, max_value=9_000_000), min_size=5, max_size=5),
    st.lists(st.integers(min_value=100, max_value=9_000_000), min_size=5, max_size=5),
)
def test_restart_restores_a_snapshot_whatever_order_positions_were_opened(
    order: list[str], qtys: list[int], prices: list[int], marks: list[int]
) -> None:
    """Issue 13 defect 4: equity summed in opening order, the snapshot stored sorted, and a restart after
    a kill -9 then STOPped PORTFOLIO_SNAPSHOT_MISMATCH ("equity 9992.361995719999 != recomputed 9992.36199572")."""
    pf = Portfolio(10_000.0)
    for i, sym in enumerate(order):
        qty, price = qtys[i] / 100_000_000, prices[i] / 100
        pf.apply_fill(fill("BUY", qty, price, round(qty * price * 0.001, 8), sym, i))
        pf.mark(sym, marks[i] / 100)
    snap = orjson.loads(orjson.dumps(pf.snapshot()))
    restored = Portfolio.from_snapshot(snap)
    assert restored.equity() == pf.equity() == snap["equity"]
    assert restored.unrealized_pnl() == pf.unrealized_pnl() == snap["unrealized_pnl"]
    assert restored.ledger() == pf.ledger()


def test_equity_does_not_depend_on_the_order_positions_were_opened() -> None:
    fills = [fill("BUY", 0.00123, 61_234.57, 0.07, "BTCUSDT", 1), fill("BUY", 0.0311, 3_012.33, 0.09, "ETHUSDT", 2)]
    forward, backward = Portfolio.rebuild(fills, 10_000.0), Portfolio.rebuild(fills[::-1], 10_000.0)
    forward.mark("ETHUSDT", 3_001.17)
    backward.mark("ETHUSDT", 3_001.17)
    assert forward.equity() == backward.equity()
