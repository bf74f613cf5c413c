"""Virtual PnL, drawdown, win rate and R:R recomputed from the journals (the fills queue is the truth).

The account is `minibot.model.portfolio.Portfolio` (docs/core.md defines every figure). Fills are
booked in their journal order (the executor's own order, so `Portfolio.rebuild` semantics hold), and open
positions are marked at every `market_tick`'s mid ((bid + ask) / 2, as the executor marks them). The one
ordering rule that merges the two journals:

    a tick at run time t is applied after every fill up to the last one whose time is <= t
    (a fill's time is the running maximum of fill `ts` in journal order; at equal times ticks go first).

So the equity curve, and the max drawdown taken on it, is a pure function of the two journals: `nore
verify` recomputes it from a prefix of them and must find metrics.json's figures bit for bit.

Incremental and bounded: everything up to a checkpoint time (the newest tick minus `settle_ms`, moved on
by at least half of that at a time) is folded into a checkpoint portfolio once and forgotten; only later
events are kept. A live portfolio (the checkpoint plus every kept event) takes new events as they come
when they arrive in the merge order, which is the common case. One that arrives out of order (a fill
stamped before ticks already read: execution_role writes a tick's fill after market_role wrote later ticks)
makes the next call rebuild it from the newest earlier figures call's copy of it that the late event still
sorts after (`SNAPSHOTS` are kept), else from the checkpoint. So a call does not re-sort and re-apply ten
minutes of ticks (issue 14, item 4: that churned ~1 MB of short-lived tuples per metrics write; item 2: at
`--speed 60` the rebuilds were a third of the supervisor's CPU).

A fill or tick that arrives older than the checkpoint (a role far behind) makes the tracker start over: at
the next figures it re-reads every tick and fill it was given from `history` (the journals on disk) and
folds them again, streaming, so even that never holds the night in memory (issue 14, item 4: keeping every
tick cost 20 bytes each, ~1.6 MB per hour at 2 symbols, 100 times that at 200).
"""

from __future__ import annotations

import copy
import math
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from minibot.model.portfolio import Portfolio

SETTLE_MS = 600_000
REPLAY_SETTLE_EVERY = 4096  # events between two checkpoints while starting over (bounds what a replay holds)
# Ticks kept before they are folded even without a figures call: a reader's backlog (`nore backtest`'s final
# read of 2 million ticks, `nore verify`) is then folded as it goes instead of held; that read took 600 MB.
KEEP_MAX = 65_536
SNAPSHOTS = 8  # copies of the live portfolio kept from the last figures calls (metrics writes: 10 s of run clock apart)
_TICK, _FILL = 0, 1
_NEVER = -(1 << 62)

Tick = tuple[int, str, float, float]  # ts, symbol, bid, ask of a market_tick
Fill = tuple[int, dict[str, Any]]  # ts and payload of a fill
# The ticks and the fills given so far, each in journal order, from the start (they may go on further:
# the tracker takes as many as it was given).
History = Callable[[], tuple[Iterable[Tick], Iterable[Fill]]]


def tick_of(event: Mapping[str, Any]) -> Tick:
    """What the tracker takes of a `market_tick` event."""
    p = event["payload"]
    return int(event["ts"]), str(p["symbol"]), float(p["bid"]), float(p["ask"])


def fill_of(event: Mapping[str, Any]) -> Fill:
    """What the tracker takes of a `fill` event."""
    return int(event["ts"]), event["payload"]


class PnlTracker:
    """Feeds ticks and fills as they are read; `figures()` at any time.

    `history` re-reads the ticks and fills from the first one when an event older than the checkpoint
    forces a start-over (`start_overs` counts them).
    """

    def __init__(
        self, initial_cash: float, quote_asset: str = "USDT", settle_ms: int = SETTLE_MS, *, history: History
    ) -> None:
        self.initial_cash = float(initial_cash)
        self.quote_asset = quote_asset
        self.settle_ms = settle_ms
        self.history = history
        self.ticks = 0  # ticks given so far
        self.fills = 0  # fills given so far
        self.start_overs = 0  # times an event older than the checkpoint forced a replay from the start
        self._stale = False  # a start-over is due at the next figures
        self._clear()

    def _clear(self) -> None:
        self._cp = Portfolio(self.initial_cash, self.quote_asset)
        self._cp_ts = _NEVER
        self._live: Portfolio | None = None  # checkpoint + the first _live_ticks / _live_fills kept events
        self._live_ticks = 0
        self._live_fills = 0
        self._last_key = (_NEVER, _TICK)  # the latest (time, kind) given: an older one is out of order
        self._max_tick_ts = _NEVER
        self._last_fill_time = _NEVER
        self._symbols: list[str] = []
        self._sym_index: dict[str, int] = {}
        # Events after the checkpoint: ticks as (ts, symbol index, mid) columns, fills as (time, payload).
        self._tick_ts: array[int] = array("q")
        self._tick_sym: array[int] = array("I")
        self._tick_mid: array[float] = array("d")
        self._fill_time: list[int] = []
        self._fill_payload: list[dict[str, Any]] = []
        # Copies of the live portfolio at earlier figures calls, oldest first: (the latest key it holds, kept
        # ticks and kept fills it holds, the copy). One stays valid while no later event sorts before its key.
        self._snaps: deque[tuple[tuple[int, int], int, int, Portfolio]] = deque(maxlen=SNAPSHOTS)

    def add_tick(self, ts: int, symbol: str, bid: float, ask: float) -> None:
        """One `market_tick` (its `ts` and top of book)."""
        self.ticks += 1
        if ts <= self._cp_ts:
            self._stale = True
        if not self._stale:
            self._note((ts, _TICK))
            self._keep_tick(ts, symbol, (bid + ask) * 0.5)
            if len(self._tick_ts) >= KEEP_MAX and self._settle_due():
                self._live = None  # it lacks what came since the last figures call: rebuilt at the next one
                self._settle()

    def add_fill(self, ts: int, payload: dict[str, Any]) -> None:
        """One `fill` payload with its event `ts`, in journal order."""
        self.fills += 1
        time = max(ts, self._last_fill_time)
        self._last_fill_time = time
        if time < self._cp_ts:
            self._stale = True
        if not self._stale:
            self._note((time, _FILL))
            self._fill_time.append(time)
            self._fill_payload.append(payload)

    def _note(self, key: tuple[int, int]) -> None:
        """An event out of the merge order invalidates the live portfolio (rebuilt at the next call)."""
        if key < self._last_key:
            self._live = None
            snaps = self._snaps
            while snaps and key < snaps[-1][0]:  # it sorts before what these hold (at an equal key: after)
                snaps.pop()
        else:
            self._last_key = key

    def _keep_tick(self, ts: int, symbol: str, mid: float) -> None:
        index = self._sym_index.get(symbol)
        if index is None:
            index = self._sym_index[symbol] = len(self._symbols)
            self._symbols.append(symbol)
        self._tick_ts.append(ts)
        self._tick_sym.append(index)
        self._tick_mid.append(mid)
        self._max_tick_ts = max(self._max_tick_ts, ts)

    def _ordered(self, first_tick: int = 0, first_fill: int = 0) -> list[tuple[int, int, int]]:
        """(time, kind, index) of the kept events from `first_tick` / `first_fill` on in the merge order:
        time, ticks before fills, journal order."""
        ts = self._tick_ts
        merged = [(ts[i], _TICK, i) for i in range(first_tick, len(ts))]
        times = self._fill_time
        merged.extend((times[i], _FILL, i) for i in range(first_fill, len(times)))
        merged.sort()
        return merged

    def _apply(self, pf: Portfolio, events: list[tuple[int, int, int]]) -> None:
        symbols, syms, mids, fills = self._symbols, self._tick_sym, self._tick_mid, self._fill_payload
        for _, kind, i in events:
            if kind == _TICK:
                pf.mark(symbols[syms[i]], mids[i])
            else:
                pf.apply_fill(fills[i])

    def _settle_due(self) -> bool:
        """Whether the checkpoint can move on (by at least half of settle_ms)."""
        return self._max_tick_ts - self.settle_ms > self._cp_ts + self.settle_ms // 2

    def _settle(self) -> None:
        """Fold everything up to (newest tick - settle_ms) into the checkpoint and forget it."""
        if not self._settle_due():
            return
        target = self._max_tick_ts - self.settle_ms
        merged = self._ordered()
        cut = 0
        while cut < len(merged) and merged[cut][0] <= target:
            cut += 1
        self._apply(self._cp, merged[:cut])
        self._cp_ts = target
        kept_ticks = sorted(i for _, kind, i in merged[cut:] if kind == _TICK)
        kept_fills = sorted(i for _, kind, i in merged[cut:] if kind == _FILL)
        self._tick_ts = array("q", (self._tick_ts[i] for i in kept_ticks))
        self._tick_sym = array("I", (self._tick_sym[i] for i in kept_ticks))
        self._tick_mid = array("d", (self._tick_mid[i] for i in kept_ticks))
        self._fill_time = [self._fill_time[i] for i in kept_fills]
        self._fill_payload = [self._fill_payload[i] for i in kept_fills]
        self._live_ticks, self._live_fills = len(kept_ticks), len(kept_fills)
        # A copy newer than the checkpoint holds every folded event (what it lacks sorts after it): it stays,
        # counted by the new positions of the kept events it holds. An older one cannot be told apart: dropped.
        self._snaps = deque(
            (
                (key, bisect_left(kept_ticks, ticks), bisect_left(kept_fills, fills), pf)
                for key, ticks, fills, pf in self._snaps
                if key[0] > target
            ),
            maxlen=SNAPSHOTS,
        )

    def _start_over(self) -> None:
        """Fold again, from the first tick and fill, the ticks and fills given so far (read from `history`).

        Streaming in merge order: before each tick, every fill whose time is below the tick's goes in, so a
        fill never arrives older than a checkpoint; a checkpoint every REPLAY_SETTLE_EVERY events bounds what
        is held. Only a tick more than `settle_ms` older than a tick before it in the journal can still be
        older than a checkpoint: then the replay is done once more without checkpoints.
        """
        self.start_overs += 1
        for settle_every in (REPLAY_SETTLE_EVERY, 0):
            self._clear()
            ticks, fills = self.history()
            if self._replay(islice(ticks, self.ticks), islice(fills, self.fills), settle_every):
                self._stale = False  # only now: a replay that raised (fills that do not add up) is done again
                return
        raise AssertionError("a replay without checkpoints cannot go stale")  # pragma: no cover

    def _replay(self, ticks: Iterator[Tick], fills: Iterator[Fill], settle_every: int) -> bool:
        """Feed `ticks` and `fills` again; False when a tick fell behind a checkpoint (start again)."""
        pending: Fill | None = next(fills, None)
        last_fill_time = _NEVER
        since_settle = 0
        for ts, symbol, bid, ask in ticks:
            while pending is not None and max(pending[0], last_fill_time) < ts:
                last_fill_time = max(pending[0], last_fill_time)
                self._fill_time.append(last_fill_time)
                self._fill_payload.append(pending[1])
                pending = next(fills, None)
            if ts <= self._cp_ts:
                return False
            self._keep_tick(ts, symbol, (bid + ask) * 0.5)
            since_settle += 1
            if settle_every and since_settle >= settle_every:
                self._settle()
                since_settle = 0
        while pending is not None:
            last_fill_time = max(pending[0], last_fill_time)
            self._fill_time.append(last_fill_time)
            self._fill_payload.append(pending[1])
            pending = next(fills, None)
        self._last_fill_time = last_fill_time
        self._last_key = (max(self._max_tick_ts, last_fill_time), _FILL)  # at least the latest: safe
        return True

    def portfolio(self) -> Portfolio:
        """The account after every tick and fill given so far (the tracker's own: read it, never change it)."""
        if self._stale:
            self._start_over()
        live = self._live
        if live is None:  # rebuilt from the newest copy left, else from the checkpoint
            _, self._live_ticks, self._live_fills, base = self._snaps[-1] if self._snaps else (None, 0, 0, self._cp)
            live = copy.deepcopy(base)
        self._live = None  # until the events below are applied (fills that do not add up raise)
        events = self._ordered(self._live_ticks, self._live_fills)
        self._apply(live, events)
        self._live, self._live_ticks, self._live_fills = live, len(self._tick_ts), len(self._fill_time)
        self._settle()  # every kept event is in the live portfolio: folding some into the checkpoint keeps it
        if events:
            self._snaps.append((self._last_key, self._live_ticks, self._live_fills, copy.deepcopy(live)))
        return live

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
