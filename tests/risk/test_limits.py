"""Every risk limit as a pure check: at the limit (passes), just inside (passes), just beyond (fails)."""

from __future__ import annotations

import dataclasses

import pytest

from minibot.model.config import RiskConfig
from minibot.model.portfolio import Portfolio
from minibot.reasons import ReasonCode, RejectCode
from minibot.risk.limits import FrequencyGuard, LossCooldown, breach, entry_checks
from minibot.sectionview import build_view

from .helpers import risk_cfg

BASE = build_view(RiskConfig, risk_cfg())
LOOSE = dataclasses.replace(
    BASE,
    max_order_notional_quote=1e9,
    max_position_notional_quote=1e9,
    max_total_exposure_quote=1e9,
    loss_limit_run_quote=1e9,
    loss_limit_day_quote=1e9,
    max_drawdown_pct=100.0,
    fee_reserve_bps=0.0,
    order_risk_bps=0.0,
)


def fill(side: str, qty: float, price: float, symbol: str = "BTCUSDT") -> dict:
    return {
        "order_id": "p",
        "client_order_id": "c",
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "price": price,
        "fee": 0.0,
        "fee_asset": "USDT",
        "liquidity": "TAKER",
        "cause_id": "x",
    }


def code(found: tuple[RejectCode, str] | None) -> RejectCode | None:
    """The reject code of a check result (None when it passed)."""
    return None if found is None else found[0]


def with_loss(loss: float) -> Portfolio:
    """A flat portfolio that lost `loss` on one round trip (no fees)."""
    pf = Portfolio(10_000.0)
    pf.apply_fill(fill("BUY", 10.0, 100.0))
    pf.apply_fill(fill("SELL", 10.0, 100.0 - loss / 10.0))
    return pf


def check(
    lim: RiskConfig,
    pf: Portfolio,
    notional: float,
    pending_sym: float = 0.0,
    pending_total: float = 0.0,
    day_start: float | None = None,
) -> RejectCode | None:
    found = entry_checks(
        lim,
        pf,
        "BTCUSDT",
        notional,
        pending_sym,
        pending_total,
        pf.equity() if day_start is None else day_start,
    )
    return None if found is None else found[0]


@pytest.mark.parametrize(
    ("notional", "expected"), [(999.99, None), (1000.0, None), (1000.01, RejectCode.MAX_ORDER_NOTIONAL)]
)
def test_max_order_notional(notional: float, expected: RejectCode | None) -> None:
    assert check(dataclasses.replace(LOOSE, max_order_notional_quote=1000.0), Portfolio(10_000.0), notional) == expected


@pytest.mark.parametrize(
    ("notional", "expected"), [(299.99, None), (300.0, None), (300.01, RejectCode.MAX_POSITION_NOTIONAL)]
)
def test_max_position_notional_counts_position_and_open_buys(notional: float, expected: RejectCode | None) -> None:
    pf = Portfolio(10_000.0)
    pf.apply_fill(fill("BUY", 10.0, 100.0))  # 1000 held
    lim = dataclasses.replace(LOOSE, max_position_notional_quote=1500.0)
    assert check(lim, pf, notional, pending_sym=200.0, pending_total=200.0) == expected


@pytest.mark.parametrize(
    ("notional", "expected"), [(499.99, None), (500.0, None), (500.01, RejectCode.MAX_TOTAL_EXPOSURE)]
)
def test_max_total_exposure(notional: float, expected: RejectCode | None) -> None:
    pf = Portfolio(10_000.0)
    pf.apply_fill(fill("BUY", 10.0, 100.0, "ETHUSDT"))  # 1000 in another symbol
    lim = dataclasses.replace(LOOSE, max_total_exposure_quote=2000.0)
    assert check(lim, pf, notional, pending_total=500.0) == expected


@pytest.mark.parametrize(
    ("notional", "expected"), [(9999.99, None), (10_000.0, None), (10_000.01, RejectCode.INSUFFICIENT_CASH)]
)
def test_cash(notional: float, expected: RejectCode | None) -> None:
    assert check(LOOSE, Portfolio(10_000.0), notional) == expected
    # The fee reserve (10 bps here) is part of what a BUY needs.
    lim = dataclasses.replace(LOOSE, fee_reserve_bps=10.0)
    assert check(lim, Portfolio(10_010.0), notional) == expected


@pytest.mark.parametrize(
    ("notional", "expected"), [(999.0, None), (1000.0, None), (1000.01, RejectCode.LOSS_LIMIT_WOULD_EXCEED)]
)
def test_run_loss_would_exceed(notional: float, expected: RejectCode | None) -> None:
    # Lost 390; a new position risks 1 % of its notional: 1000 -> 10 more, exactly the 400 limit.
    lim = dataclasses.replace(LOOSE, loss_limit_run_quote=400.0, order_risk_bps=100.0)
    assert check(lim, with_loss(390.0), notional) == expected


@pytest.mark.parametrize(
    ("notional", "expected"), [(999.0, None), (1000.0, None), (1000.01, RejectCode.LOSS_LIMIT_WOULD_EXCEED)]
)
def test_day_loss_would_exceed(notional: float, expected: RejectCode | None) -> None:
    lim = dataclasses.replace(LOOSE, loss_limit_day_quote=300.0, order_risk_bps=100.0)
    pf = with_loss(390.0)  # the day started after the first 100 of that loss
    assert check(lim, pf, notional, day_start=pf.equity() + 290.0) == expected


@pytest.mark.parametrize(
    ("notional", "expected"), [(999.0, None), (1000.0, None), (1000.01, RejectCode.DRAWDOWN_WOULD_EXCEED)]
)
def test_drawdown_would_exceed(notional: float, expected: RejectCode | None) -> None:
    lim = dataclasses.replace(LOOSE, max_drawdown_pct=5.0, order_risk_bps=100.0)
    assert check(lim, with_loss(490.0), notional) == expected  # 490 + 10 = 500 = 5 % of the 10000 peak


def test_exits_are_not_subject_to_entry_checks() -> None:
    """entry_checks is only called for BUYs; the core test covers SELLs passing in a losing account."""
    assert (
        check(dataclasses.replace(LOOSE, max_order_notional_quote=1.0), Portfolio(10.0), 2.0)
        == RejectCode.MAX_ORDER_NOTIONAL
    )


def _breach(lim: RiskConfig, equity: float, day_start: float | None = None) -> ReasonCode | None:
    found = breach(lim, Portfolio(10_000.0), equity, equity if day_start is None else day_start)
    return None if found is None else found[0]


@pytest.mark.parametrize(
    ("equity", "expected"), [(9600.01, None), (9600.0, None), (9599.99, ReasonCode.RISK_LOSS_LIMIT_RUN)]
)
def test_breach_run_loss(equity: float, expected: ReasonCode | None) -> None:
    assert _breach(dataclasses.replace(LOOSE, loss_limit_run_quote=400.0), equity) == expected


@pytest.mark.parametrize(
    ("equity", "expected"), [(9700.01, None), (9700.0, None), (9699.99, ReasonCode.RISK_LOSS_LIMIT_DAY)]
)
def test_breach_day_loss(equity: float, expected: ReasonCode | None) -> None:
    assert _breach(dataclasses.replace(LOOSE, loss_limit_day_quote=300.0), equity, day_start=10_000.0) == expected


@pytest.mark.parametrize(
    ("equity", "expected"), [(9500.01, None), (9500.0, None), (9499.99, ReasonCode.RISK_MAX_DRAWDOWN)]
)
def test_breach_drawdown(equity: float, expected: ReasonCode | None) -> None:
    assert _breach(dataclasses.replace(LOOSE, max_drawdown_pct=5.0), equity) == expected


def test_trades_per_window() -> None:
    guard = FrequencyGuard(
        dataclasses.replace(BASE, max_trades_per_window=3, trade_window_ms=1000, min_gap_per_symbol_ms=0)
    )
    for ts in (0, 100):
        guard.record("BTCUSDT", ts)
    assert guard.check("BTCUSDT", 200) is None  # the third order: at the limit
    guard.record("BTCUSDT", 200)
    assert code(guard.check("BTCUSDT", 999)) == RejectCode.MAX_TRADES_PER_WINDOW
    assert guard.check("BTCUSDT", 1000) is None  # the order at 0 left the window


@pytest.mark.parametrize(("ts", "expected"), [(499, RejectCode.MIN_GAP_PER_SYMBOL), (500, None), (501, None)])
def test_min_gap_per_symbol(ts: int, expected: RejectCode | None) -> None:
    guard = FrequencyGuard(dataclasses.replace(BASE, max_trades_per_window=100, min_gap_per_symbol_ms=500))
    guard.record("BTCUSDT", 0)
    found = guard.check("BTCUSDT", ts)
    assert (None if found is None else found[0]) == expected
    assert guard.check("ETHUSDT", ts) is None  # per symbol


def test_cooldown_after_losses() -> None:
    cd = LossCooldown(dataclasses.replace(BASE, cooldown_after_losses=3, cooldown_ms=1000))
    cd.on_round_trip(-1.0, 1000)
    cd.on_round_trip(-1.0, 2000)
    assert cd.check(2001) is None  # two losses: below the limit
    cd.on_round_trip(5.0, 3000)  # a win resets the streak
    for ts in (4000, 4500, 5000):
        cd.on_round_trip(-1.0, ts)
    assert code(cd.check(5999)) == RejectCode.COOLDOWN_AFTER_LOSSES
    assert cd.check(6000) is None and cd.check(6001) is None
