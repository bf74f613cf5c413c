"""Typed views of the trading sections of `nore.v1.json`: strategy, risk, execution. Field names are the schema's
keys (`config/schema/<section>.schema.json` describes each). The pure cores are handed their section alone (so
`nore replay` and the backtest build them from a recorded config), and each builds its view with
`build_view(View, section)`; code holding the whole config uses `View.from_config(cfg)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from minibot.sectionview import SectionView


@dataclass(frozen=True, slots=True)
class StrategyAiConfig:
    """`strategy.ai`: how the strategy takes AI recommendations into account when `use_ai` is on."""

    max_age_ms: int
    min_agree_probability: float
    weight: float
    allowed_models: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StrategyConfig(SectionView):
    """The `strategy` section: bars, RSI / momentum signal rules and the signal filters."""

    SECTION: ClassVar[str] = "strategy"

    mode: str
    bar_interval_ms: int
    rsi_period: int
    rsi_oversold: int | float  # echoed into every signal's reason as written
    rsi_overbought: int | float  # echoed into every signal's reason as written
    momentum_lookback_bars: int
    momentum_threshold_bps: int | float  # echoed into every signal's reason as written
    warmup_bars: int
    max_gap_bars: int
    resignal_bars: int
    horizon_bars: int
    max_spread_bps: float
    min_top_notional_quote: float
    min_bar_ticks: int
    use_ai: bool
    ai: StrategyAiConfig


@dataclass(frozen=True, slots=True)
class SizingConfig:
    """`risk.sizing`: a fixed quote notional per order, or a fraction of equity."""

    mode: str
    quote_notional: float
    equity_fraction: float


@dataclass(frozen=True, slots=True)
class RiskConfig(SectionView):
    """The `risk` section: order sizing and type, and the limits (R-K1..K3, R-T5) every order must respect."""

    SECTION: ClassVar[str] = "risk"

    sizing: SizingConfig
    order_type: str
    limit_offset_bps: float
    loss_limit_run_quote: float
    loss_limit_day_quote: float
    max_drawdown_pct: float
    max_trades_per_window: int
    trade_window_ms: int
    min_gap_per_symbol_ms: int
    max_order_notional_quote: float
    max_position_notional_quote: float
    max_total_exposure_quote: float
    max_data_age_ms: int
    max_spread_bps: float
    cooldown_after_losses: int
    cooldown_ms: int
    order_risk_bps: float
    fee_reserve_bps: float


@dataclass(frozen=True, slots=True)
class ExecutionConfig(SectionView):
    """The `execution` section: the paper account, fees, slippage, quote age, limit TTL and latency."""

    SECTION: ClassVar[str] = "execution"

    initial_cash: float
    quote_asset: str
    taker_fee_bps: int | float  # a Decimal rate is made from it as written
    maker_fee_bps: int | float  # a Decimal rate is made from it as written
    slippage_bps: int | float  # a Decimal rate is made from it as written
    max_quote_age_ms: int
    limit_ttl_ms: int
    latency_ms: int
