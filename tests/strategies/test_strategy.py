"""StrategyCore: bars, warm-up, both modes, filters, re-signal spacing, AI gating and the signal contract."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from minibot.contracts.core import Output
from minibot.contracts.envelope import validate_event
from minibot.reasons import ContractViolation
from minibot.strategies import StrategyCore

from ..core.builders import T0, env, tick
from .helpers import bar_ticks, cfg

ZIGZAG = [100.0, 100.5] * 5  # RSI around 50: no signal
FALLING = ZIGZAG + [100.0 - i for i in range(1, 8)]
RISING = ZIGZAG + [100.5 + i for i in range(1, 8)]


def run(core: StrategyCore, events: list[dict[str, Any]]) -> list[Output]:
    out: list[Output] = []
    for e in events:
        out.extend(core.step(e))
    return out


def test_mean_reversion_buys_oversold_and_explains_why() -> None:
    core = StrategyCore(cfg())
    ticks = bar_ticks(FALLING)
    signals = run(core, ticks)
    assert signals and all(s.type == "signal" for s in signals)
    first = signals[0].payload
    assert first["side"] == "BUY" and first["score"] > 0 and 0.5 <= first["confidence"] <= 1
    reason = first["reason"]
    assert reason["mode"] == "mean_reversion" and reason["rsi"] <= 30.0
    assert {"momentum_bps", "spread_bps", "bar", "bars_seen"} <= set(reason)
    assert first["horizon_ms"] == 12 * 1000
    # The signal is caused by the tick that closed the bar and carries that tick's quote.
    cause = next(t for t in ticks if t["id"] == first["cause_id"])
    assert (first["bid"], first["ask"]) == (cause["payload"]["bid"], cause["payload"]["ask"])
    validate_event(env("signal", first, cause["ts"], 999, source="strategy_role"))


def test_mean_reversion_sells_overbought() -> None:
    signals = run(StrategyCore(cfg()), bar_ticks(RISING))
    assert signals and signals[0].payload["side"] == "SELL" and signals[0].payload["score"] < 0
    assert signals[0].payload["reason"]["rsi"] >= 70.0


def test_momentum_mode_follows_the_move() -> None:
    # Up 0.2, down 0.1, ...: momentum builds while RSI stays near 67 (below overbought).
    closes = [100.0] * 10 + [100.0 + 0.1 * (i // 2 * 1 + (i % 2) * 2) for i in range(1, 10)]
    signals = run(StrategyCore(cfg(mode="momentum", momentum_threshold_bps=20.0)), bar_ticks(closes))
    assert signals and signals[0].payload["side"] == "BUY"
    assert signals[0].payload["reason"]["momentum_bps"] >= 20.0
    down = [100.0] * 10 + [100.0 - 0.1 * i for i in range(1, 6)]
    signals = run(StrategyCore(cfg(mode="momentum", momentum_threshold_bps=20.0)), bar_ticks(down))
    assert signals and signals[0].payload["side"] == "SELL"


def test_warm_up_blocks_early_signals() -> None:
    # Falling from the very first bar: RSI(7) would be 0 at bar 8, but warm-up asks for 12 bars.
    closes = [100.0 - i for i in range(20)]
    core = StrategyCore(cfg(warmup_bars=12, resignal_bars=100))
    signals = run(core, bar_ticks(closes))
    assert len(signals) == 1 and signals[0].payload["reason"]["bars_seen"] == 12
    # Without extra warm-up, the indicator's own need (rsi_period + 1 = 8 bars) applies.
    signals = run(StrategyCore(cfg(resignal_bars=100)), bar_ticks(closes))
    assert signals[0].payload["reason"]["bars_seen"] == 8


def test_bars_aggregate_ticks_and_fill_empty_buckets() -> None:
    core = StrategyCore(cfg(resignal_bars=100))
    events = [
        tick(100.0, T0, 0),
        tick(101.0, T0 + 300, 1),
        tick(99.5, T0 + 900, 2),
        tick(100.5, T0 + 3500, 3),
    ]
    assert run(core, events) == []
    st = core._syms["BTCUSDT"]
    # Bar 0 closed at 99.5; buckets 1 and 2 were empty (repeat 99.5); bucket 3 is open with 100.5.
    assert st.bars == 3 and list(st.mom.closes)[-3:] == [99.5, 99.5, 99.5]
    assert (st.bar.open, st.bar.close, st.bar.ticks) == (100.5, 100.5, 1)
    # A tick whose ts went backwards stays in the open bar.
    core.step(tick(100.7, T0 + 3000, 4))
    assert (st.bar.close, st.bar.high, st.bar.ticks, st.bars) == (100.7, 100.7, 2, 3)


def test_feed_gap_resets_indicators() -> None:
    core = StrategyCore(cfg(max_gap_bars=5))
    run(core, bar_ticks([100.0 + i for i in range(10)]))
    st = core._syms["BTCUSDT"]
    assert st.bars == 10 and st.rsi.value is not None
    core.step(tick(120.0, T0 + 10_000 + 7 * 1000, 50))  # 6 empty bars > max_gap_bars
    assert st.bars == 0 and st.rsi.value is None and core.counters["gap_resets"] == 1


@pytest.mark.parametrize(
    ("changes", "tick_kw", "counter"),
    [
        ({"max_spread_bps": 1.0}, {"spread": 0.02}, "filtered_spread"),  # 0.02 on ~100 = 2 bps
        ({"min_top_notional_quote": 1000.0}, {"qty": 5.0}, "filtered_liquidity"),  # ~500 quote on top
        ({"min_bar_ticks": 2}, {}, "filtered_activity"),  # one tick per bar
    ],
)
def test_filters_suppress_signals(changes: dict, tick_kw: dict, counter: str) -> None:
    core = StrategyCore(cfg(**changes))
    assert run(core, bar_ticks(FALLING, **tick_kw)) == []
    assert core.counters[counter] > 0


def test_filter_limits_pass_at_their_value() -> None:
    # A spread at the limit passes: 0.02 around 95.0 is 2.105... bps.
    at = (0.02 / 95.0) * 1e4
    core = StrategyCore(cfg(max_spread_bps=at + 1e-9, resignal_bars=100))
    closes = [*FALLING[:-2], 95.0]
    assert run(core, bar_ticks(closes, spread=0.02))


def test_resignal_spacing() -> None:
    closes = ZIGZAG + [100.0 - i for i in range(1, 12)]
    spaced = run(StrategyCore(cfg(resignal_bars=3)), bar_ticks(closes))
    bars = [s.payload["reason"]["bars_seen"] for s in spaced if s.payload["side"] == "BUY"]
    assert len(bars) >= 2 and all(b - a >= 3 for a, b in itertools.pairwise(bars))
    every = run(StrategyCore(cfg(resignal_bars=1)), bar_ticks(closes))
    assert len(every) > len(spaced)


def _rec(direction: str, prob: float, ts: int, n: int, gated: bool = True, model: str = "v000001") -> dict:
    payload = {
        "symbol": "BTCUSDT",
        "direction": direction,
        "probability": prob,
        "model_version": model,
        "feature_hash": "a" * 64,
        "horizon_ms": 60_000,
        "cause_id": env("x", {}, ts, n)["id"],
        "gated": gated,
    }
    return env("ai_recommendation", payload, ts, n, source="ai_role")


def _with_rec(core: StrategyCore, rec: dict | None) -> list[Output]:
    ticks = bar_ticks(FALLING)
    events = [*ticks[:-8], rec, *ticks[-8:]] if rec is not None else ticks
    return run(core, events)


def test_ai_ignored_when_use_ai_is_off() -> None:
    plain = _with_rec(StrategyCore(cfg()), None)
    with_rec = _with_rec(StrategyCore(cfg()), _rec("DOWN", 0.99, T0 + 9000, 1))
    assert [s.payload for s in plain] == [s.payload for s in with_rec]
    assert "ai" not in plain[0].payload["reason"]


def test_ai_vetoes_an_opposing_signal() -> None:
    core = StrategyCore(cfg(use_ai=True))
    assert _with_rec(core, _rec("DOWN", 0.9, T0 + 9000, 1)) == []
    assert core.counters["ai_vetoed"] > 0


def test_ai_weights_an_agreeing_signal() -> None:
    plain = _with_rec(StrategyCore(cfg()), None)[0].payload
    got = _with_rec(StrategyCore(cfg(use_ai=True)), _rec("UP", 0.9, T0 + 9000, 1))[0].payload
    assert got["reason"]["ai"]["applied"] is True and got["reason"]["ai"]["p_agree"] == 0.9
    assert got["confidence"] == pytest.approx(0.5 * plain["confidence"] + 0.5 * 0.9)
    assert (got["side"], got["score"]) == (plain["side"], plain["score"])


@pytest.mark.parametrize(
    ("rec_kw", "strategy_kw", "why"),
    [
        ({"gated": False}, {}, "not_gated"),
        (
            {"model": "v000009"},
            {
                "ai": {
                    "max_age_ms": 10_000,
                    "min_agree_probability": 0.4,
                    "weight": 0.5,
                    "allowed_models": ["v000001"],
                }
            },
            "model_not_allowed",
        ),
        (
            {},
            {"ai": {"max_age_ms": 100, "min_agree_probability": 0.4, "weight": 0.5, "allowed_models": []}},
            "stale",
        ),
    ],
)
def test_ai_unusable_recommendations_change_nothing(rec_kw: dict, strategy_kw: dict, why: str) -> None:
    plain = _with_rec(StrategyCore(cfg()), None)[0].payload
    got = _with_rec(StrategyCore(cfg(use_ai=True, **strategy_kw)), _rec("DOWN", 0.99, T0 + 9000, 1, **rec_kw))
    assert got and got[0].payload["reason"]["ai"] == {
        **got[0].payload["reason"]["ai"],
        "applied": False,
        "why": why,
    }
    assert got[0].payload["confidence"] == plain["confidence"]


def test_rejects_unknown_event_types_and_bad_config() -> None:
    core = StrategyCore(cfg())
    with pytest.raises(ContractViolation):
        core.step(env("fill", {}, T0, 1, source="execution_role"))
    with pytest.raises(ValueError):
        StrategyCore(cfg(mode="yolo"))
    with pytest.raises(ValueError):
        StrategyCore(cfg(rsi_oversold=60.0, rsi_overbought=55.0))
