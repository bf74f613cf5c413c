"""Virtual PnL, drawdown, win rate and R:R recomputed from the journals (the fills queue is the truth).

The account is `minibot.model.portfolio.Portfolio` (docs/core.md defines every figure). Fills are
booked in their journal order (the executor's own order, so `Portfolio.rebuild` semantics hold), and open
positions are marked at every `market_tick`'s mid ((bid + ask) / 2, as the executor marks them). The one
ordering rule that merges the two journals:

    a tick at run time t is applied after every fill up to the last one whose time is <= t
    (a fill's time is the running maximum of fill `ts` in journal order; at equal times ticks go first).

So the equity curve, and the max drawdown taken on it, is a pure function of the two journals: `nore
verify` recomputes it from a prefix of them and must find metrics.json's figures bit for bit.

Incremental: everything up to a checkpoint time (the newest tick minus `settle_ms`) is folded into a
checkpoint portfolio once; later events are re-applied to a copy on each call. A fill or tick that arrives
older than the checkpoint (a role far behind) makes the tracker start over from the first tick, which
gives the same result, only slower.
"""

from __future__ import annotations

import copy
import math
from array import array
from typing import Any

from minibot.model.portfolio import Portfolio

SETTLE_MS = 600_000
_TICK, _FILL = 0, 1


class PnlTracker:
    """Feeds ticks and fills as they are read; `figures()` at any time."""

    def __init__(self, initial_cash: float, quote_asset: str = "USDT", settle_ms: int = SETTLE_MS) -> None:
        self.initial_cash = float(initial_cash)
        self.quote_asset = quote_asset
        self.settle_ms = settle_ms
        self._tick_ts: array[int] = array("q")
        self._tick_sym: array[int] = array("I")
        self._tick_mid: array[float] = array("d")
        self._symbols: list[str] = []
        self._sym_index: dict[str, int] = {}
        self._fills: list[dict[str, Any]] = []
        self._fill_time: list[int] = []
        self._max_tick_ts = -(1 << 62)
        self.start_overs = -1  # times an event older than the checkpoint forced a replay from the start
        self._reset()

    def _reset(self) -> None:
        self.start_overs += 1
        self._cp = Portfolio(self.initial_cash, self.quote_asset)
        self._cp_ts = -(1 << 62)
        self._pending_ticks: list[int] = list(range(len(self._tick_ts)))
        self._pending_fills: list[int] = list(range(len(self._fills)))

    @property
    def ticks(self) -> int:
        """Ticks seen."""
        return len(self._tick_ts)

    @property
    def fills(self) -> int:
        """Fills seen."""
        return len(self._fills)

    def add_tick(self, ts: int, symbol: str, bid: float, ask: float) -> None:
        """One `market_tick` (its `ts` and top of book)."""
        index = self._sym_index.get(symbol)
        if index is None:
            index = self._sym_index[symbol] = len(self._symbols)
            self._symbols.append(symbol)
        self._pending_ticks.append(len(self._tick_ts))
        self._tick_ts.append(ts)
        self._tick_sym.append(index)
        self._tick_mid.append((bid + ask) * 0.5)
        self._max_tick_ts = max(self._max_tick_ts, ts)
        if ts <= self._cp_ts:
            self._reset()

    def add_fill(self, ts: int, payload: dict[str, Any]) -> None:
        """One `fill` payload with its event `ts`, in journal order."""
        time = max(ts, self._fill_time[-1]) if self._fill_time else ts
        self._pending_fills.append(len(self._fills))
        self._fills.append(payload)
        self._fill_time.append(time)
        if time < self._cp_ts:
            self._reset()

    def _ordered(self, ticks: list[int], fills: list[int]) -> list[tuple[int, int, int]]:
        """(time, kind, index) in the merge order: time, ticks before fills, then journal order."""
        merged = [(self._tick_ts[i], _TICK, i) for i in ticks]
        merged.extend((self._fill_time[i], _FILL, i) for i in fills)
        merged.sort()
        return merged

    def _apply(self, pf: Portfolio, events: list[tuple[int, int, int]]) -> None:
        symbols, syms, mids, fills = self._symbols, self._tick_sym, self._tick_mid, self._fills
        for _, kind, i in events:
            if kind == _TICK:
                pf.mark(symbols[syms[i]], mids[i])
            else:
                pf.apply_fill(fills[i])

    def _settle(self) -> None:
        """Fold everything up to (newest tick - settle_ms) into the checkpoint."""
        target = self._max_tick_ts - self.settle_ms
        if target <= self._cp_ts:
            return
        merged = self._ordered(self._pending_ticks, self._pending_fills)
        cut = 0
        while cut < len(merged) and merged[cut][0] <= target:
            cut += 1
        self._apply(self._cp, merged[:cut])
        self._cp_ts = target
        self._pending_ticks = [i for t, k, i in merged[cut:] if k == _TICK]
        self._pending_fills = [i for t, k, i in merged[cut:] if k == _FILL]

    def portfolio(self) -> Portfolio:
        """The account after every tick and fill seen so far."""
        self._settle()
        pf = copy.deepcopy(self._cp)
        self._apply(pf, self._ordered(self._pending_ticks, self._pending_fills))
        return pf

    def figures(self) -> dict[str, Any]:
        """The R-N2 PnL figures (quote asset amounts; drawdown as a fraction and in %)."""
        return pnl_figures(self.portfolio())


def pnl_figures(pf: Portfolio) -> dict[str, Any]:
    """Virtual PnL, max drawdown, win rate and R:R of a portfolio, as metrics.json holds them."""
    stats = pf.stats()
    equity = pf.equity()
    return {
        "quote_asset": pf.quote_asset,
        "initial_cash": pf.initial_cash,
        "cash": pf.cash,
        "equity": equity,
        "total_pnl": equity - pf.initial_cash,
        "return_pct": (equity - pf.initial_cash) / pf.initial_cash * 100.0,
        "realized_pnl": pf.realized_pnl,
        "unrealized_pnl": pf.unrealized_pnl(),
        "fees_paid": pf.fees_paid,
        "fills": pf.fills,
        "peak_equity": pf.peak_equity,
        "max_drawdown": pf.max_drawdown,
        "max_drawdown_pct": pf.max_drawdown * 100.0,
        "trips": stats["trips"],
        "wins": stats["wins"],
        "losses": stats["losses"],
        "win_rate": stats["win_rate"],
        "avg_win": stats["avg_win"],
        "avg_loss": stats["avg_loss"],
        "rr": stats["rr"],
        "open_positions": {
            sym: {"qty": p.qty, "avg_price": p.avg_price, "mark": p.mark} for sym, p in sorted(pf.positions.items())
        },
    }


def compare_figures(recorded: dict[str, Any], recomputed: dict[str, Any], tolerance: float = 1e-9) -> list[str]:
    """Every figure of `recomputed` that `recorded` lacks or differs from (relative tolerance `tolerance`)."""
    diffs: list[str] = []
    for key, want in recomputed.items():
        got = recorded.get(key, "<missing>")
        if isinstance(want, dict):
            if not isinstance(got, dict):
                diffs.append(f"{key}: metrics.json has {got!r}, recomputed {want!r}")
            else:
                diffs.extend(f"{key}.{d}" for d in compare_figures(got, want, tolerance))
        elif isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
            if not math.isclose(float(got), want, rel_tol=tolerance, abs_tol=tolerance):
                diffs.append(f"{key}: metrics.json has {got!r}, recomputed {want!r}")
        elif got != want:
            diffs.append(f"{key}: metrics.json has {got!r}, recomputed {want!r}")
    return diffs
