"""NORE strategy core: market ticks -> time bars -> RSI / momentum -> `signal` (R-S1..S4).

Pure and deterministic (R-S2): state is a function of the input sequence only; time is `event["ts"]`.
Rules (docs/core.md has the full table):
- Bars: see `bars.py`. A signal can only be produced when a bar closes, i.e. on the first tick of a later
  bucket; that tick's quote (bid/ask/quantities) is the one the signal carries and the filters judge.
- Warm-up: no signal until max(`warmup_bars`, `rsi_period` + 1, `momentum_lookback_bars` + 1) bars have
  closed since the start or since the last gap reset.
- mean_reversion: BUY when RSI <= `rsi_oversold`, SELL when RSI >= `rsi_overbought`.
  momentum: BUY when momentum >= `momentum_threshold_bps` and RSI < `rsi_overbought` (no chasing an
  exhausted move), SELL when momentum <= -`momentum_threshold_bps`.
- Strength s = 0.5 + 0.5 * depth, depth in [0, 1] = how far past its threshold the indicator is (RSI: as a
  share of the distance to 0 / 100; momentum: (|m| - thr) / thr, capped). score = +s for BUY, -s for SELL;
  confidence = s, then possibly weighted or filtered by AI (`ai_filter.py`).
- Filters on the closing tick: bid > 0 and ask >= bid; spread <= `max_spread_bps`; top-of-book notional on
  the side the order would take >= `min_top_notional_quote`; the last real bar had >= `min_bar_ticks` ticks.
- Same-side signals of one symbol are at least `resignal_bars` bars apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.contracts.core import Output
from minibot.model.config import StrategyConfig
from minibot.reasons import ContractViolation, ReasonCode
from minibot.sectionview import build_view
from minibot.strategies.ai_filter import AiGate
from minibot.strategies.bars import BarBuilder
from minibot.strategies.indicators import Momentum, WilderRSI

MODES = ("mean_reversion", "momentum")


class _Symbol:
    """Per-symbol state: the open bar, the indicators and when each side last signalled."""

    __slots__ = ("bar", "bars", "last_signal_bar", "mom", "rsi")

    def __init__(self, interval_ms: int, rsi_period: int, lookback: int) -> None:
        self.bar = BarBuilder(interval_ms)
        self.rsi = WilderRSI(rsi_period)
        self.mom = Momentum(lookback)
        self.bars = 0
        self.last_signal_bar: dict[str, int] = {}

    def feed(self, close: float) -> None:
        self.rsi.update(close)
        self.mom.update(close)
        self.bars += 1

    def reset(self) -> None:
        self.rsi.reset()
        self.mom.reset()
        self.bars = 0
        self.last_signal_bar.clear()


class StrategyCore:
    """Consumes `market_tick` and `ai_recommendation` envelopes; emits `signal` outputs."""

    __slots__ = (
        "_ai",
        "_cfg",
        "_interval",
        "_max_gap",
        "_syms",
        "_use_ai",
        "_warmup",
        "counters",
    )

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        """`cfg` is the `strategy` config section (minibot/config/schema/strategy.schema.json)."""
        view = build_view(StrategyConfig, cfg)
        if view.mode not in MODES:
            raise ValueError(f"strategy.mode must be one of {MODES}, got {view.mode!r}")
        if not view.rsi_oversold < view.rsi_overbought:
            raise ValueError("strategy.rsi_oversold must be below strategy.rsi_overbought")
        self._cfg = view
        self._interval = view.bar_interval_ms
        self._max_gap = view.max_gap_bars
        self._warmup = max(view.warmup_bars, view.rsi_period + 1, view.momentum_lookback_bars + 1)
        self._use_ai = view.use_ai
        self._ai = AiGate(view.ai)
        self._syms: dict[str, _Symbol] = {}
        self.counters = dict.fromkeys(
            (
                "bars",
                "signals",
                "filtered_quote",
                "filtered_spread",
                "filtered_liquidity",
                "filtered_activity",
                "ai_vetoed",
                "gap_resets",
            ),
            0,
        )

    def step(self, event: Mapping[str, Any]) -> list[Output]:
        """Apply one envelope; returns at most one `signal`."""
        etype = event["type"]
        if etype == "market_tick":
            payload = event["payload"]
            st = self._syms.get(payload["symbol"])
            if st is None:
                st = self._syms[payload["symbol"]] = _Symbol(
                    self._interval, self._cfg.rsi_period, self._cfg.momentum_lookback_bars
                )
            bucket = event["ts"] // self._interval
            bar = st.bar
            # Hot path: a tick inside the open bar. A ts that went backwards also stays in the open bar.
            if bucket <= bar.bucket:
                bar.add(payload["price"])
                return []
            return self._roll(st, bucket, event)
        if etype == "ai_recommendation":
            self._ai.observe(event)
            return []
        raise ContractViolation(f"strategy core does not consume {etype!r}", ReasonCode.TYPE_NOT_ALLOWED_ON_QUEUE)

    def _roll(self, st: _Symbol, bucket: int, event: Mapping[str, Any]) -> list[Output]:
        """Close the open bar (and any empty ones), evaluate, open the new bar with this tick."""
        bar = st.bar
        price = event["payload"]["price"]
        if bar.bucket < 0:
            bar.start(bucket, price)
            return []
        empty = bucket - bar.bucket - 1
        st.feed(bar.close)
        self.counters["bars"] += 1
        out: list[Output] = []
        if empty > self._max_gap:
            st.reset()
            self.counters["gap_resets"] += 1
        else:
            for _ in range(empty):
                st.feed(bar.close)
            self.counters["bars"] += empty
            if st.bars >= self._warmup:
                out = self._evaluate(st, event, empty)
        bar.start(bucket, price)
        return out

    def _decide(self, rsi: float, mom: float) -> tuple[str, float] | None:
        """(side, depth in [0, 1]) when the indicators call for a signal."""
        cfg = self._cfg
        oversold, overbought = cfg.rsi_oversold, cfg.rsi_overbought
        if cfg.mode == "mean_reversion":
            if rsi <= oversold:
                return "BUY", (oversold - rsi) / oversold if oversold > 0 else 1.0
            if rsi >= overbought:
                return "SELL", (rsi - overbought) / (100.0 - overbought) if overbought < 100 else 1.0
            return None
        thr = cfg.momentum_threshold_bps
        if mom >= thr and rsi < overbought:
            return "BUY", min(1.0, (mom - thr) / thr)
        if mom <= -thr:
            return "SELL", min(1.0, (-mom - thr) / thr)
        return None

    def _evaluate(self, st: _Symbol, event: Mapping[str, Any], empty: int) -> list[Output]:
        rsi, mom = st.rsi.value, st.mom.value
        if rsi is None or mom is None:
            return []
        decision = self._decide(rsi, mom)
        if decision is None:
            return []
        side, depth = decision
        cfg = self._cfg
        if st.bars - st.last_signal_bar.get(side, -(10**9)) < cfg.resignal_bars:
            return []
        p = event["payload"]
        bid, ask = float(p["bid"]), float(p["ask"])
        if not 0.0 < bid <= ask:
            self.counters["filtered_quote"] += 1
            return []
        spread_bps = (ask - bid) / ((ask + bid) / 2.0) * 10_000.0
        if spread_bps > cfg.max_spread_bps:
            self.counters["filtered_spread"] += 1
            return []
        top_notional = ask * float(p["ask_qty"]) if side == "BUY" else bid * float(p["bid_qty"])
        if top_notional < cfg.min_top_notional_quote:
            self.counters["filtered_liquidity"] += 1
            return []
        if st.bar.ticks < cfg.min_bar_ticks:
            self.counters["filtered_activity"] += 1
            return []
        strength = 0.5 + 0.5 * depth
        reason: dict[str, Any] = {
            "mode": cfg.mode,
            "rsi": round(rsi, 4),
            "rsi_oversold": cfg.rsi_oversold,
            "rsi_overbought": cfg.rsi_overbought,
            "momentum_bps": round(mom, 4),
            "momentum_threshold_bps": cfg.momentum_threshold_bps,
            "spread_bps": round(spread_bps, 4),
            "top_notional_quote": round(top_notional, 2),
            "bar": st.bar.as_reason(),
            "empty_bars": empty,
            "bars_seen": st.bars,
        }
        confidence: float | None = round(strength, 6)
        if self._use_ai:
            confidence, reason["ai"] = self._ai.apply(p["symbol"], side, int(event["ts"]), round(strength, 6))
            if confidence is None:
                self.counters["ai_vetoed"] += 1
                return []
        st.last_signal_bar[side] = st.bars
        self.counters["signals"] += 1
        signal = {
            "symbol": p["symbol"],
            "side": side,
            "score": round(strength if side == "BUY" else -strength, 6),
            "confidence": confidence,
            "horizon_ms": cfg.horizon_bars * self._interval,
            "reason": reason,
            "price": p["price"],
            "bid": bid,
            "ask": ask,
            "bid_qty": float(p["bid_qty"]),
            "ask_qty": float(p["ask_qty"]),
            "cause_id": event["id"],
        }
        return [Output("signal", signal)]
