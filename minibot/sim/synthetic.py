"""A seeded synthetic market for any symbol: GBM-like mid with volatility regimes, a spread of a few ticks,
Poisson trade arrivals with lognormal sizes that sweep the top level when they are larger than it; every
trade consumes the book level it prints at.

The path is a function of (seed, symbol, run-clock ms since start): the feed advances in fixed steps of
`step_ms` run-clock milliseconds, drawing from per-symbol generators in a fixed order, so the same seed
gives the same prices, trade ids and trade times at the same offset from start, however often the clock
is read. A minute of live trading before the start (trades, book) and 500 one-minute bars before that
(klines, 24h tickers) make every endpoint useful at once.
"""

from __future__ import annotations

import math
import random

from minibot.marketdata.intervals import MINUTE
from minibot.marketdata.num import E8, mul_e8
from minibot.sim.bars import Bar
from minibot.sim.state import SymbolState
from minibot.sim.tape import Agg

_YEAR_MS = 365.0 * 24 * 3600 * 1000
# Regimes: calm, normal, turbulent. Volatility multiplier, trade-rate multiplier, largest spread (ticks).
_VOL_MULT = (0.5, 1.0, 2.8)
_RATE_MULT = (0.5, 1.0, 3.0)
_MAX_SPREAD = (2, 3, 6)
_MEAN_REGIME_MS = 300_000.0
HISTORY_BARS = 500
WARMUP_MS = 60_000


class SyntheticFeed:
    """Drives one `SymbolState` with a synthetic market from `start_ms` on, in `step_ms` steps."""

    def __init__(self, state: SymbolState, seed: int, start_ms: int, step_ms: int = 100) -> None:
        self.state = state
        spec = state.spec
        self.spec = spec
        self.start_ms = start_ms - WARMUP_MS
        self.step_ms = step_ms
        self.k = 0
        # The standard library's Mersenne Twister, one stream per use and symbol (a str seed is hashed with
        # sha512, so streams are independent): numpy cost the simulator ~15 MB of RSS (issue 14, item 4).
        stream = f"nore-synthetic:{seed}:{spec.symbol}"
        self._rng = random.Random(f"{stream}:steps")
        self._trng = random.Random(f"{stream}:trades")
        self._sig = [spec.annual_vol * m * math.sqrt(step_ms / _YEAR_MS) for m in _VOL_MULT]
        self._lam = [spec.trades_per_s * m * step_ms / 1000.0 for m in _RATE_MULT]
        self._p_switch = step_ms / _MEAN_REGIME_MS
        self.regime = 1
        self.log_mid = math.log(spec.base_price / E8)
        ids = random.Random(f"{stream}:history")
        self.agg_id = ids.randrange(10_000_000, 900_000_000)
        self.trade_id = self.agg_id * 3 + ids.randrange(1000)
        state.m1.extend(self._history(ids))
        state.begin_update()
        self._quote(0.5, 0.0, 0.0)
        state.commit_update(self.start_ms, amend=True)
        # Live trading for WARMUP_MS before the start, so /trades and /aggTrades have history at once.
        self.advance_to(start_ms)

    # ------------------------------------------------------------------------------------------------
    def next_due_ms(self) -> int:
        """Run time at which the next step ends (when `advance_to` has something new to generate)."""
        return self.start_ms + (self.k + 1) * self.step_ms

    def advance_to(self, t: int) -> None:
        """Generate every step that ends at or before run time `t`."""
        while self.start_ms + (self.k + 1) * self.step_ms <= t:
            self._step()
        # The next step's trades are stamped after its start: everything up to it is final.
        self.state.final_ms = self.start_ms + self.k * self.step_ms

    def _trade_draws(self) -> tuple[float, float, float, float, float]:
        """Uniforms for one trade: time in step, side, two for a normal size draw, fill count."""
        u = self._trng.random
        return u(), u(), u(), u(), u()

    def _step(self) -> None:
        t0 = self.start_ms + self.k * self.step_ms
        self.k += 1
        # A fixed number of draws per step, in a fixed order: the path depends on the step, not on the reads.
        rng = self._rng
        z = rng.gauss()
        u_regime, u_count, u_spread = rng.random(), rng.random(), rng.random()
        zb, za = rng.gauss(), rng.gauss()
        if u_regime < self._p_switch:
            # Leave the current regime for one of the other two; "normal" is the most likely destination.
            others = [r for r in (1, 0, 2) if r != self.regime]
            self.regime = others[0] if u_regime < self._p_switch * 0.7 else others[1]
        n = _poisson(u_count, self._lam[self.regime])
        # One book update per step: the step's trades consume the book as they print, then the quotes move.
        # (One update, not one per trade, keeps the bookTicker rate at one per symbol per 100 ms.)
        self.state.begin_update()
        if n:
            self._trades(t0, n, z)
        sigma = self._sig[self.regime]
        self.log_mid += sigma * z - 0.5 * sigma * sigma
        self._quote(u_spread, zb, za)
        self.state.commit_update(t0 + self.step_ms, amend=True)

    def _quote(self, u_spread: float, zb: float, za: float) -> None:
        spec = self.spec
        tick = spec.tick
        spread = 1 + int(u_spread * _MAX_SPREAD[self.regime])
        mid_ticks = math.exp(self.log_mid) * E8 / tick
        bid_ticks = max(1, int(mid_ticks - spread / 2.0))
        top_qty = spec.median_notional * 4.0 / (bid_ticks * tick / E8)
        bq = max(spec.step, int(top_qty * math.exp(1.1 * zb) * E8) // spec.step * spec.step)
        aq = max(spec.step, int(top_qty * math.exp(1.1 * za) * E8) // spec.step * spec.step)
        self.state.quote(bid_ticks * tick, bq, (bid_ticks + spread) * tick, aq)

    def _trades(self, t0: int, n: int, z: float) -> None:
        spec, st = self.spec, self.state
        # Takers lean the way the price is about to move: order flow and returns correlate as on a real book.
        p_buy = 0.5 + 0.2 * max(-2.0, min(2.0, z)) / 2.0
        draws = [self._trade_draws() for _ in range(n)]
        times = sorted(t0 + 1 + min(self.step_ms - 1, int(d[0] * self.step_ms)) for d in draws)
        for t, (_, u_side, u_size, u_angle, u_fills) in zip(times, draws, strict=True):
            buy = u_side < p_buy
            # Trades are drawn against the step's quote, so the tape never depends on the deep book (which
            # is only filled in once a client asks for depth); the book then absorbs them in _agg.
            price, top = (st.ask, st.ask_qty) if buy else (st.bid, st.bid_qty)
            size_z = math.sqrt(-2.0 * math.log(max(u_size, 1e-12))) * math.cos(2 * math.pi * u_angle)
            notional = min(spec.median_notional * math.exp(1.2 * size_z), spec.median_notional * 60)
            qty = max(spec.step, int(notional / (price / E8) * E8) // spec.step * spec.step)
            if 0 < top < qty:
                # Larger than the best level: the rest fills one tick further, as a second aggregate trade.
                self._agg(t, price, top, buy, u_fills)
                self._agg(t, price + spec.tick if buy else price - spec.tick, qty - top, buy, u_fills)
            else:
                self._agg(t, price, qty, buy, u_fills)

    def _agg(self, t: int, price: int, qty: int, buy: bool, u_fills: float) -> None:
        if price <= 0:
            return
        step = self.spec.step
        fills = min(1 + int(math.log(max(u_fills, 1e-9)) / math.log(0.45)), 8, max(1, qty // step))
        units = qty // step
        parts = tuple((units // fills + (1 if i < units % fills else 0)) * step for i in range(fills))
        agg = Agg(self.agg_id, price, qty, self.trade_id, self.trade_id + fills - 1, t, not buy, parts)
        self.agg_id += 1
        self.trade_id += fills
        self.state.add_agg(agg)
        # The trade consumes the level it printed at (inside the step's update; see _step).
        self.state.consume(buy, price, qty, step)

    # ------------------------------------------------------------------------------------------------
    def _history(self, rng: random.Random) -> list[Bar]:
        """One-minute bars before the start, walked backwards from the base price."""
        spec = self.spec
        sig = spec.annual_vol * math.sqrt(MINUTE / _YEAR_MS)
        z = [[rng.gauss() for _ in range(4)] for _ in range(HISTORY_BARS)]
        closes = [spec.base_price / E8]
        for i in range(HISTORY_BARS - 1, 0, -1):
            closes.append(closes[-1] * math.exp(-sig * z[i][0]))
        closes.reverse()
        first_open = (self.start_ms - self.start_ms % MINUTE) - HISTORY_BARS * MINUTE
        lam = spec.trades_per_s * 60.0
        counts = [max(0, round(lam + math.sqrt(lam) * row[3])) for row in z]
        tid = self.trade_id - sum(counts)
        bars: list[Bar] = []
        prev = closes[0] * math.exp(sig * z[0][0])
        for i, close in enumerate(closes):
            o, c = self._tick(prev), self._tick(close)
            h = max(o, c, self._tick(max(prev, close) * math.exp(abs(z[i][1]) * sig * 0.4)))
            low = min(o, c, self._tick(min(prev, close) * math.exp(-abs(z[i][2]) * sig * 0.4)))
            n = counts[i]
            qty = spec.median_notional * n / ((prev + close) / 2) * math.exp(0.3 * z[i][3])
            vol = int(qty * E8) // spec.step * spec.step if n else 0
            quote = mul_e8((h + low) // 2, vol)
            share = 0.5 + 0.1 * math.tanh((close - prev) / max(prev * sig, 1e-12))
            tbv = int(vol * share) // spec.step * spec.step
            fid, lid = (tid, tid + n - 1) if n else (-1, -1)
            bars.append([first_open + i * MINUTE, o, h, low, c, vol, quote, n, tbv, int(quote * share), fid, lid])
            tid += n
            prev = close
        return bars

    def _tick(self, price: float) -> int:
        tick = self.spec.tick
        return max(tick, round(price * E8 / tick) * tick)


def _poisson(u: float, lam: float) -> int:
    """Poisson variate by inversion (lambda per step is small)."""
    p = math.exp(-lam)
    c = p
    n = 0
    while u > c and n < 60:
        n += 1
        p *= lam / n
        c += p
    return n
