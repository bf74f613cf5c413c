"""Incremental per-symbol features from `market_tick` payloads (R-I5).

Pure: no clock, no I/O. Time is the envelope `ts` (run clock, ms) handed in by the caller. Every window is
a time window over that event time, so the same ticks always give the same features.

Feature vector, in `FeatureSpec.names` order:
- `ret_<w>ms`      log return of the mid price over each window `w` of `return_windows_ms`
- `vol_<w>ms`      realized volatility: sqrt of the sum of squared tick-to-tick mid log returns in the window
- `rsi_<w>ms`      0..100, share of upward tick moves (log-return weighted) in the window; 50 without moves
- `spread_bps`     (ask - bid) / mid in basis points
- `book_imb`       (bid_qty - ask_qty) / (bid_qty + ask_qty), 0 when both are 0
- `flow_imb_<w>ms` (buy qty - sell qty) / total qty of trades in the window, 0 without trades

Trade aggressor side (the payload carries none): quote rule first (price >= ask -> buy, <= bid -> sell),
tick rule otherwise (up -> buy, down -> sell, unchanged -> the previous trade's side), as in Lee & Ready.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

FEATURE_FORMAT = 1
TRADE_KINDS = frozenset({"trade", "agg_trade", "kline"})


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which windows the feature vector uses; its `names` fix the vector's order."""

    return_windows_ms: tuple[int, ...]
    volatility_window_ms: int
    rsi_window_ms: int
    flow_window_ms: int

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names in vector order."""
        return (
            *(f"ret_{w}ms" for w in self.return_windows_ms),
            f"vol_{self.volatility_window_ms}ms",
            f"rsi_{self.rsi_window_ms}ms",
            "spread_bps",
            "book_imb",
            f"flow_imb_{self.flow_window_ms}ms",
        )

    @property
    def warmup_ms(self) -> int:
        """Event time a symbol needs before its first feature vector (the longest window)."""
        return max((*self.return_windows_ms, self.volatility_window_ms, self.rsi_window_ms, self.flow_window_ms))

    def spec_hash(self) -> str:
        """sha256 hex of the canonical spec: two datasets or models mix only when it is equal."""
        doc = {"format": FEATURE_FORMAT, "names": list(self.names)}
        return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()


def feature_hash(vector: Sequence[float]) -> str:
    """sha256 hex over the vector's canonical bytes: little-endian IEEE-754 float64, in `names` order."""
    return hashlib.sha256(struct.pack(f"<{len(vector)}d", *vector)).hexdigest()


def mid_price(payload: Mapping[str, Any]) -> float:
    """Mid of the quoted book; the tick price when the book is crossed or missing."""
    bid = float(payload.get("bid") or 0.0)
    ask = float(payload.get("ask") or 0.0)
    if bid > 0.0 and ask >= bid:
        return (bid + ask) / 2.0
    return float(payload["price"])


class _WindowSums:
    """Sums of a few values over the last `window_ms` of event time (amortized O(1) per update)."""

    __slots__ = ("_items", "sums", "window_ms")

    def __init__(self, window_ms: int, width: int) -> None:
        self.window_ms = window_ms
        self._items: deque[tuple[int, tuple[float, ...]]] = deque()
        self.sums = [0.0] * width

    def add(self, ts: int, values: tuple[float, ...]) -> None:
        self._items.append((ts, values))
        for i, v in enumerate(values):
            self.sums[i] += v
        self.evict(ts)

    def evict(self, now: int) -> None:
        cutoff = now - self.window_ms
        items = self._items
        while items and items[0][0] <= cutoff:
            _, old = items.popleft()
            for i, v in enumerate(old):
                self.sums[i] -= v
        if not items:
            # Running sums drift by rounding; an empty window resets them exactly.
            self.sums = [0.0] * len(self.sums)


class _Lag:
    """The log mid at or just before `now - window_ms` (the anchor of a window return)."""

    __slots__ = ("_items", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._items: deque[tuple[int, float]] = deque()

    def push(self, ts: int, log_mid: float) -> float:
        items = self._items
        items.append((ts, log_mid))
        cutoff = ts - self.window_ms
        while len(items) >= 2 and items[1][0] <= cutoff:
            items.popleft()
        return items[0][1]


class SymbolFeatures:
    """Feature state of one symbol."""

    def __init__(self, spec: FeatureSpec) -> None:
        self._spec = spec
        self._lags = [_Lag(w) for w in spec.return_windows_ms]
        self._vol = _WindowSums(spec.volatility_window_ms, 1)
        self._rsi = _WindowSums(spec.rsi_window_ms, 2)
        self._flow = _WindowSums(spec.flow_window_ms, 2)
        self._first_ts: int | None = None
        self._last_ts = 0
        self._last_log_mid: float | None = None
        self._last_trade_price: float | None = None
        self._last_side = 0.0

    def update(self, payload: Mapping[str, Any], ts: int) -> tuple[float, ...] | None:
        """Fold one tick in; the feature vector once every window is covered, else None.

        Ticks whose time runs backwards are taken at the last seen time so the windows stay ordered.
        """
        ts = max(int(ts), self._last_ts)
        self._last_ts = ts
        if self._first_ts is None:
            self._first_ts = ts
        mid = mid_price(payload)
        log_mid = math.log(mid)
        rets = [log_mid - lag.push(ts, log_mid) for lag in self._lags]

        step = 0.0 if self._last_log_mid is None else log_mid - self._last_log_mid
        self._last_log_mid = log_mid
        self._vol.add(ts, (step * step,))
        self._rsi.add(ts, (max(step, 0.0), max(-step, 0.0)))
        self._add_flow(payload, ts)

        if ts - self._first_ts < self._spec.warmup_ms:
            return None
        vol = math.sqrt(max(self._vol.sums[0], 0.0))
        gains, losses = (max(s, 0.0) for s in self._rsi.sums)
        moved = gains + losses
        rsi = 100.0 * gains / moved if moved > 1e-15 else 50.0
        bid = float(payload["bid"])
        ask = float(payload["ask"])
        spread_bps = max(ask - bid, 0.0) / mid * 1e4
        bid_qty = float(payload["bid_qty"])
        ask_qty = float(payload["ask_qty"])
        depth = bid_qty + ask_qty
        book_imb = (bid_qty - ask_qty) / depth if depth > 0.0 else 0.0
        signed, total = self._flow.sums
        flow_imb = max(-1.0, min(1.0, signed / total)) if total > 1e-12 else 0.0
        return (*rets, vol, rsi, spread_bps, book_imb, flow_imb)

    def _add_flow(self, payload: Mapping[str, Any], ts: int) -> None:
        qty = payload.get("qty")
        if payload.get("kind") not in TRADE_KINDS or not qty:
            self._flow.evict(ts)
            return
        price = float(payload["price"])
        if price >= float(payload["ask"]) > float(payload["bid"]):
            side = 1.0
        elif price <= float(payload["bid"]) < float(payload["ask"]):
            side = -1.0
        elif self._last_trade_price is not None and price != self._last_trade_price:
            side = 1.0 if price > self._last_trade_price else -1.0
        else:
            side = self._last_side
        self._last_trade_price = price
        self._last_side = side
        q = float(qty)
        self._flow.add(ts, (side * q, q))


class FeatureExtractor:
    """Feature state for every symbol seen."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._symbols: dict[str, SymbolFeatures] = {}

    def update(self, payload: Mapping[str, Any], ts: int) -> tuple[float, ...] | None:
        """Fold a `market_tick` payload in at event time `ts`; the symbol's vector once warmed up."""
        symbol = payload["symbol"]
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = SymbolFeatures(self.spec)
        return state.update(payload, ts)
