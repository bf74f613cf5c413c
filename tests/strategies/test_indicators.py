"""Incremental RSI / momentum against straightforward full-series reference implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minibot.strategies.indicators import Momentum, WilderRSI

# StockCharts' published Wilder RSI(14) worked example (closes and the RSI values it lists). Its spreadsheet
# rounds the intermediate averages, so its figures differ from the exact ones by < 0.1.
STOCKCHARTS_CLOSES = [
    44.34,
    44.09,
    44.15,
    43.61,
    44.33,
    44.83,
    45.10,
    45.42,
    45.84,
    46.08,
    45.89,
    46.03,
    45.61,
    46.28,
    46.28,
    46.00,
    46.03,
    46.41,
    46.22,
    45.64,
    46.21,
    46.25,
    45.71,
    46.45,
    45.78,
    45.35,
    44.03,
    44.18,
    44.22,
    44.57,
    43.42,
    42.66,
    43.13,
]
STOCKCHARTS_RSI = [
    70.53,
    66.32,
    66.55,
    69.41,
    66.36,
    57.97,
    62.93,
    63.26,
    56.06,
    62.38,
    54.71,
    50.42,
    39.99,
    41.46,
    41.87,
    45.46,
    37.30,
    33.08,
    37.77,
]


def _rsi_from(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0:
        return 100.0 if avg_gain > 0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def reference_rsi_loop(closes: list[float], period: int) -> list[float | None]:
    """Wilder's definition applied to the whole series at once (numpy diff + explicit smoothing)."""
    deltas = np.diff(np.asarray(closes, dtype=float))
    gains, losses = np.clip(deltas, 0, None), np.clip(-deltas, 0, None)
    out: list[float | None] = [None] * len(closes)
    if len(deltas) < period:
        return out
    ag, al = gains[:period].mean(), losses[:period].mean()
    out[period] = _rsi_from(ag, al)
    for i in range(period, len(deltas)):
        ag = (ag * (period - 1) + gains[i]) / period
        al = (al * (period - 1) + losses[i]) / period
        out[i + 1] = _rsi_from(ag, al)
    return out


def reference_rsi_closed_form(closes: list[float], period: int) -> list[float | None]:
    """Same RSI as an exponentially weighted sum (alpha = 1/period) seeded by the first simple mean."""
    deltas = np.diff(np.asarray(closes, dtype=float))
    gains, losses = np.clip(deltas, 0, None), np.clip(-deltas, 0, None)
    a = 1.0 / period
    out: list[float | None] = [None] * len(closes)
    for t in range(period - 1, len(deltas)):
        k = np.arange(period, t + 1)
        w = a * (1 - a) ** (t - k)
        decay = (1 - a) ** (t - period + 1)
        ag = gains[:period].mean() * decay + float(np.dot(w, gains[period : t + 1]))
        al = losses[:period].mean() * decay + float(np.dot(w, losses[period : t + 1]))
        out[t + 1] = _rsi_from(ag, al)
    return out


def incremental_rsi(closes: list[float], period: int) -> list[float | None]:
    rsi = WilderRSI(period)
    return [rsi.update(c) for c in closes]


def _assert_close(got: list[float | None], want: list[float | None], tol: float) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g is None) == (w is None)
        if g is not None and w is not None:
            assert math.isclose(g, w, abs_tol=tol), (g, w)


def test_rsi_matches_published_example() -> None:
    got = incremental_rsi(STOCKCHARTS_CLOSES, 14)
    assert got[:14] == [None] * 14
    assert len(got[14:]) == len(STOCKCHARTS_RSI)
    for value, published in zip(got[14:], STOCKCHARTS_RSI, strict=True):
        assert value is not None and abs(value - published) < 0.1


@settings(max_examples=60, deadline=None)
@given(
    closes=st.lists(st.floats(min_value=1.0, max_value=1e5, allow_nan=False), min_size=2, max_size=80),
    period=st.integers(min_value=2, max_value=20),
)
def test_rsi_matches_references(closes: list[float], period: int) -> None:
    got = incremental_rsi(closes, period)
    _assert_close(got, reference_rsi_loop(closes, period), 1e-9)
    _assert_close(got, reference_rsi_closed_form(closes, period), 1e-6)


def test_rsi_edge_cases() -> None:
    assert incremental_rsi([5.0] * 10, 3)[-1] == 50.0  # no movement at all
    assert incremental_rsi([float(i) for i in range(1, 10)], 3)[-1] == 100.0  # no losses
    assert incremental_rsi([float(i) for i in range(10, 0, -1)], 3)[-1] == 0.0  # no gains
    rsi = WilderRSI(3)
    for c in (1.0, 2.0, 3.0, 4.0):
        rsi.update(c)
    rsi.reset()
    assert rsi.update(10.0) is None and rsi.value is None
    with pytest.raises(ValueError):
        WilderRSI(0)


@settings(max_examples=60, deadline=None)
@given(
    closes=st.lists(st.floats(min_value=1.0, max_value=1e5, allow_nan=False), min_size=1, max_size=60),
    lookback=st.integers(min_value=1, max_value=10),
)
def test_momentum_matches_reference(closes: list[float], lookback: int) -> None:
    mom = Momentum(lookback)
    got = [mom.update(c) for c in closes]
    want = [None if i < lookback else (closes[i] / closes[i - lookback] - 1.0) * 1e4 for i in range(len(closes))]
    _assert_close(got, want, 1e-9)


def test_rsi_on_real_bars() -> None:
    """5 s bar closes of the real BTCUSDT trades: incremental == reference within float noise."""
    from ..core.realdata import load_ticks

    closes: dict[int, float] = {}
    for t in load_ticks("BTCUSDT"):
        closes[t["ts"] // 5000] = t["payload"]["price"]
    series = [closes[k] for k in sorted(closes)]
    assert len(series) > 100
    _assert_close(incremental_rsi(series, 14), reference_rsi_loop(series, 14), 1e-9)
