"""Risk limits (R-K1..K3, R-T5) as pure checks. The rule everywhere: a value AT its limit passes, a value
beyond it fails (a loss of exactly `loss_limit_run_quote` is allowed; one cent more is not).

Two kinds of answers:
- `breach(...)`: the account is already beyond a loss or drawdown limit -> a STOP reason (ReasonCode).
- `entry_checks(...)`, `FrequencyGuard`, `LossCooldown`: this order would exceed a limit -> a REJECT
  reason (RejectCode). "Would exceed" for loss / drawdown limits assumes the new position can lose
  `order_risk_bps` of its notional (fees + adverse move) before it is closed.
Only orders that add risk (BUY) are subject to exposure, cash, loss, drawdown and cooldown checks: an
exit must stay possible when the account is in trouble.
"""

from __future__ import annotations

from collections import deque

from minibot.model.config import RiskConfig
from minibot.model.portfolio import Portfolio
from minibot.reasons import ReasonCode, RejectCode

Refusal = tuple[RejectCode, str]


def breach(lim: RiskConfig, pf: Portfolio, equity: float, day_start_equity: float) -> tuple[ReasonCode, str] | None:
    """The STOP reason when run loss, UTC-day loss or drawdown is beyond its limit."""
    run_loss = pf.initial_cash - equity
    if run_loss > lim.loss_limit_run_quote:
        return ReasonCode.RISK_LOSS_LIMIT_RUN, f"run loss {run_loss:.2f} > {lim.loss_limit_run_quote} quote"
    day_loss = day_start_equity - equity
    if day_loss > lim.loss_limit_day_quote:
        return (
            ReasonCode.RISK_LOSS_LIMIT_DAY,
            f"UTC-day loss {day_loss:.2f} > {lim.loss_limit_day_quote} quote",
        )
    dd_pct = (pf.peak_equity - equity) / pf.peak_equity * 100.0
    if dd_pct > lim.max_drawdown_pct:
        return (
            ReasonCode.RISK_MAX_DRAWDOWN,
            f"drawdown {dd_pct:.4f}% > {lim.max_drawdown_pct}% of peak equity",
        )
    return None


def entry_checks(
    lim: RiskConfig,
    pf: Portfolio,
    symbol: str,
    notional: float,
    pending_symbol: float,
    pending_total: float,
    day_start_equity: float,
) -> Refusal | None:
    """Limits a new BUY of `notional` must respect; `pending_*` are open BUY orders' notionals."""
    if notional > lim.max_order_notional_quote:
        return RejectCode.MAX_ORDER_NOTIONAL, f"order {notional:.2f} > {lim.max_order_notional_quote}"
    position = pf.position_notional(symbol) + pending_symbol + notional
    if position > lim.max_position_notional_quote:
        return (
            RejectCode.MAX_POSITION_NOTIONAL,
            f"{symbol} position would be {position:.2f} > {lim.max_position_notional_quote}",
        )
    exposure = pf.exposure() + pending_total + notional
    if exposure > lim.max_total_exposure_quote:
        return (
            RejectCode.MAX_TOTAL_EXPOSURE,
            f"exposure would be {exposure:.2f} > {lim.max_total_exposure_quote}",
        )
    needed = notional * (1.0 + lim.fee_reserve_bps / 10_000.0)
    free = pf.cash - pending_total
    if needed > free:
        return RejectCode.INSUFFICIENT_CASH, f"needs {needed:.2f} incl. fee reserve, {free:.2f} free"
    at_risk = notional * lim.order_risk_bps / 10_000.0
    equity = pf.equity()
    run_loss = pf.initial_cash - equity + at_risk
    if run_loss > lim.loss_limit_run_quote:
        return (
            RejectCode.LOSS_LIMIT_WOULD_EXCEED,
            f"run loss could reach {run_loss:.2f} > {lim.loss_limit_run_quote}",
        )
    day_loss = day_start_equity - equity + at_risk
    if day_loss > lim.loss_limit_day_quote:
        return (
            RejectCode.LOSS_LIMIT_WOULD_EXCEED,
            f"day loss could reach {day_loss:.2f} > {lim.loss_limit_day_quote}",
        )
    dd_pct = (pf.peak_equity - equity + at_risk) / pf.peak_equity * 100.0
    if dd_pct > lim.max_drawdown_pct:
        return (
            RejectCode.DRAWDOWN_WOULD_EXCEED,
            f"drawdown could reach {dd_pct:.4f}% > {lim.max_drawdown_pct}%",
        )
    return None


class FrequencyGuard:
    """Trade-frequency limits (R-K3): at most N orders in any trailing window, a minimum gap per symbol."""

    __slots__ = ("_last", "_lim", "_recent")

    def __init__(self, lim: RiskConfig) -> None:
        self._lim = lim
        self._recent: deque[int] = deque()
        self._last: dict[str, int] = {}

    def check(self, symbol: str, ts: int) -> Refusal | None:
        """Would one more order at `ts` exceed a frequency limit? (Orders older than the window drop out.)"""
        lim, recent = self._lim, self._recent
        while recent and recent[0] <= ts - lim.trade_window_ms:
            recent.popleft()
        if len(recent) + 1 > lim.max_trades_per_window:
            return RejectCode.MAX_TRADES_PER_WINDOW, (
                f"{len(recent)} orders in the last {lim.trade_window_ms} ms, max {lim.max_trades_per_window}"
            )
        last = self._last.get(symbol)
        if last is not None and ts - last < lim.min_gap_per_symbol_ms:
            return (
                RejectCode.MIN_GAP_PER_SYMBOL,
                f"{ts - last} ms since the last {symbol} order < {lim.min_gap_per_symbol_ms}",
            )
        return None

    def record(self, symbol: str, ts: int) -> None:
        """An order was sent at `ts`."""
        self._recent.append(ts)
        self._last[symbol] = ts


class LossCooldown:
    """After `cooldown_after_losses` losing round trips in a row, no BUY for `cooldown_ms`."""

    __slots__ = ("_lim", "consecutive", "until_ts")

    def __init__(self, lim: RiskConfig) -> None:
        self._lim = lim
        self.consecutive = 0
        self.until_ts = -1

    def on_round_trip(self, pnl: float, ts: int) -> None:
        """A position was closed with `pnl` at `ts`; a win resets the streak."""
        if pnl > 0:
            self.consecutive = 0
            return
        self.consecutive += 1
        if self.consecutive >= self._lim.cooldown_after_losses:
            self.until_ts = ts + self._lim.cooldown_ms
            self.consecutive = 0

    def check(self, ts: int) -> Refusal | None:
        """Refuse while `ts` < the end of the cooldown (at the end exactly, BUYs are allowed again)."""
        if ts < self.until_ts:
            return RejectCode.COOLDOWN_AFTER_LOSSES, f"cooldown after losses until ts {self.until_ts}"
        return None
