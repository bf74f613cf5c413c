"""Replaying Binance public-data files on the run clock.

Each file's rows keep their relative spacing and are shifted so the data starts at the run's start
(symbols whose recordings overlap in time share one shift, so they stay aligned; kline files shift by
whole intervals so bars stay on their grid). When a symbol's data runs out it starts again (`loop`),
one period later, with ids continuing: aggregate and trade ids stay contiguous for the whole run.

What a file does not contain is derived, and documented as such in docs/simulator.md:
- trades files: aggregate trades group consecutive fills with the same time, price and side;
- aggTrades files: individual trades split an aggregate's quantity evenly over its fills;
- klines files: the bars themselves are served exactly; trades inside each bar are synthesized along
  open -> low/high -> close, splitting its volume, trade count and taker-buy volume;
- the book: each trade consumes the book at its price (levels through it go, the level shrinks by the
  trade's quantity; a level showing less than traded is first given the trade plus a drawn remainder),
  the other side stays within a few ticks; sizes are drawn from the symbol's recent trade sizes.
"""

from __future__ import annotations

import itertools
import math
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minibot.marketdata.datafiles import DataFile, DataFileError, iter_rows, scan
from minibot.marketdata.intervals import DAY
from minibot.marketdata.symbols import make_spec
from minibot.sim.bars import Bar, FixedBars
from minibot.sim.state import SymbolState
from minibot.sim.tape import Agg

# (agg with ids < 0 meaning "assign", number of fills when trade ids are assigned)
Proto = tuple[Agg, int]
_LOOP_GAP_MS = 1000
_MAX_AGGS_PER_BAR = 20
_OTHER_SIDE_TICKS = 5


@dataclass
class ReplayPlan:
    """Which files feed which symbol, and the run-clock shift of each symbol."""

    files: dict[str, list[DataFile]] = field(default_factory=dict)
    shifts: dict[str, int] = field(default_factory=dict)
    loop: bool = True

    @property
    def symbols(self) -> list[str]:
        """Symbols with data."""
        return list(self.files)

    def describe(self) -> list[dict[str, Any]]:
        """Per file: symbol, kind, original span and shift (original exchange time = served time - shift)."""
        return [
            {
                "symbol": sym,
                "path": str(df.path),
                "kind": df.kind,
                "rows": df.rows,
                "original_first_ms": df.first_ts,
                "original_last_ms": df.last_ts,
                "shift_ms": self.shifts[sym],
            }
            for sym, dfs in self.files.items()
            for df in dfs
        ]

    def make(self, symbol: str, cap: int) -> tuple[SymbolState, ReplayFeed]:
        """A state and the feed that replays this symbol's files into it."""
        dfs = self.files[symbol]
        klines = [d for d in dfs if d.kind == "klines"]
        tape_files = [d for d in dfs if d.kind != "klines"]
        ref = tape_files or klines
        tick = min(d.tick for d in dfs)
        step = min(d.step for d in ref)
        spec = make_spec(symbol, tick=tick, step=step, price=ref[0].first_price)
        state = SymbolState(spec, cap, deep=True)
        shift = self.shifts[symbol]
        salt = zlib.crc32(symbol.encode())
        agg_base = 1_000_000 + salt % 90_000_000
        trade_base = agg_base * 2
        fixed: FixedBars | None = None
        if klines:
            fixed = _fixed_bars(klines, shift, self.loop, trade_base if not tape_files else None)
            state.fixed = fixed
        if tape_files:
            kind = tape_files[0].kind
            first, last = tape_files[0], tape_files[-1]
            period = last.last_ts - first.first_ts + _LOOP_GAP_MS
            trade_span = last.last_trade_id - first.first_trade_id + 1
            agg_span = last.last_id - first.first_id + 1 if kind == "aggTrades" else 0

            def tape() -> Iterator[Proto]:
                return _trade_tape(tape_files)
        else:
            period = fixed.period if fixed is not None else 1
            trade_span = agg_span = 0

            def tape() -> Iterator[Proto]:
                return _kline_tape(klines, spec.tick, spec.step)

        feed = ReplayFeed(state, tape, shift, self.loop, period, agg_span, trade_span, agg_base, trade_base, salt)
        return state, feed


def load_replay(paths: list[Path], start_ms: int, loop: bool = True) -> ReplayPlan:
    """Validate every file and decide the per-symbol shifts; DataFileError on anything unusable."""
    plan = ReplayPlan(loop=loop)
    for df in sorted((scan(p) for p in paths), key=lambda d: d.first_ts):
        plan.files.setdefault(df.symbol, []).append(df)
    for sym, dfs in plan.files.items():
        kinds = {d.kind for d in dfs}
        if {"trades", "aggTrades"} <= kinds:
            raise DataFileError(f"{dfs[0].path}: both trades and aggTrades files given for {sym}; pass one kind")
        for kind in kinds:
            same = [d for d in dfs if d.kind == kind]
            for a, b in itertools.pairwise(same):
                if b.first_ts < a.last_ts:
                    raise DataFileError(f"{b.path}: overlaps {a.path} in time ({kind} files of {sym} must not)")
    spans = sorted((min(d.first_ts for d in dfs), max(d.last_ts for d in dfs), s) for s, dfs in plan.files.items())
    cluster: list[str] = []
    cluster_lo = cluster_hi = 0
    for lo, hi, sym in spans:
        if cluster and lo > cluster_hi:
            _assign_shift(plan, cluster, cluster_lo, start_ms)
            cluster = []
        if not cluster:
            cluster_lo, cluster_hi = lo, hi
        cluster.append(sym)
        cluster_hi = max(cluster_hi, hi)
    if cluster:
        _assign_shift(plan, cluster, cluster_lo, start_ms)
    return plan


def _assign_shift(plan: ReplayPlan, symbols: list[str], lo: int, start_ms: int) -> None:
    """One shift for recordings that overlap in time; whole kline intervals when bars are replayed."""
    ivs = [d.interval_ms for s in symbols for d in plan.files[s] if d.interval_ms]
    align = min(max(ivs), DAY) if ivs else 1
    shift = (start_ms - lo) // align * align
    for s in symbols:
        plan.shifts[s] = shift


def _fixed_bars(klines: list[DataFile], shift: int, loop: bool, first_trade_id: int | None) -> FixedBars:
    """Bars of the klines files, on the run clock; trade ids match the synthesized tape when it is used."""
    bars: list[Bar] = []
    tid = first_trade_id
    for df in klines:
        for row in iter_rows(df):
            count = row[8]
            used = count if count > 0 and row[5] > 0 else 0
            if tid is not None and used:
                fid, lid = tid, tid + used - 1
                tid += used
            else:
                fid = lid = -1
            bars.append(
                [row[0] + shift, row[1], row[2], row[3], row[4], row[5], row[7], count, row[9], row[10], fid, lid]
            )
    iv = klines[0].interval_ms or 60_000
    id_span = (tid - first_trade_id) if tid is not None and first_trade_id is not None else 0
    return FixedBars(iv, bars, loop, id_span)


def _trade_tape(files: list[DataFile]) -> Iterator[Proto]:
    """Aggregate trades of aggTrades/trades files, in original time and ids."""
    for df in files:
        if df.kind == "aggTrades":
            for a, p, q, f, l_, t, m in iter_rows(df):
                yield Agg(a, p, q, f, l_, t, m), l_ - f + 1
            continue
        group: list[tuple[int, int, int, int, bool]] = []
        for row in iter_rows(df):
            tid, p, q, t, m = row
            if group and (t != group[-1][3] or p != group[-1][1] or m != group[-1][4] or tid != group[-1][0] + 1):
                yield _group(group)
                group = []
            group.append((tid, p, q, t, m))
        if group:
            yield _group(group)


def _group(fills: list[tuple[int, int, int, int, bool]]) -> Proto:
    parts = tuple(f[2] for f in fills)
    first = fills[0]
    return Agg(-1, first[1], sum(parts), first[0], fills[-1][0], first[3], first[4], parts), len(fills)


def _kline_tape(files: list[DataFile], tick: int, step: int) -> Iterator[Proto]:
    """Trades synthesized inside each bar: along open -> low -> high -> close (or via high first when the
    bar closed down), volume and trade count split over them, the taker-buy share as in the bar."""
    for df in files:
        iv = df.interval_ms or 60_000
        for row in iter_rows(df):
            t0, o, h, low, c, vol, _, _, count, tbv, _ = row
            if count <= 0 or vol <= 0:
                continue
            n = min(count, _MAX_AGGS_PER_BAR)
            vertices = [o, low, h, c] if c >= o else [o, h, low, c]
            idx = [round(k * (n - 1) / 3) for k in range(4)]
            prices = [o] * n
            for k in range(3):
                a, b = idx[k], idx[k + 1]
                for i in range(a, b + 1):
                    x = (i - a) / (b - a) if b > a else 1.0
                    prices[i] = round((vertices[k] + (vertices[k + 1] - vertices[k]) * x) / tick) * tick
            units = max(1, vol // step)
            share = tbv / vol
            for i in range(n):
                q = (units // n + (1 if i < units % n else 0)) * step
                fills = count // n + (1 if i < count % n else 0)
                buy = math.floor((i + 1) * share) > math.floor(i * share)
                if q > 0:
                    yield Agg(-1, prices[i], q, -1, -1, t0 + (2 * i + 1) * iv // (2 * n), not buy), fills


class ReplayFeed:
    """Moves one symbol through its recorded (or bar-derived) trades on the run clock."""

    def __init__(
        self,
        state: SymbolState,
        tape: Callable[[], Iterator[Proto]],
        shift: int,
        loop: bool,
        period: int,
        agg_span: int,
        trade_span: int,
        agg_base: int,
        trade_base: int,
        salt: int,
    ) -> None:
        self.state = state
        self._tape_factory = tape
        self._tape = tape()
        self.shift = shift
        self.loop = loop
        self.period = period
        self.agg_span = agg_span
        self.trade_span = trade_span
        self.next_agg = agg_base
        self.next_trade = trade_base
        self.loops = 0
        self.finished = False
        self._pending: Proto | None = None
        self._rng = random.Random(salt)
        self._avg_q = 0.0

    def next_due_ms(self) -> int | None:
        """Run time of the next recorded trade (None: the tape has ended)."""
        if self._pending is None:
            self._pending = self._next()  # what advance_to would read next anyway
            if self._pending is None:
                return None
        return self._pending[0].T + self.shift + self.loops * self.period

    def advance_to(self, t: int) -> None:
        """Apply every recorded trade whose shifted time is <= t."""
        while True:
            if self._pending is None:
                self._pending = self._next()
                if self._pending is None:
                    break
            agg, fills = self._pending
            when = agg.T + self.shift + self.loops * self.period
            if when > t:
                break
            self._pending = None
            self._apply(agg, fills, when)
        self.state.final_ms = t

    def _next(self) -> Proto | None:
        try:
            return next(self._tape)
        except StopIteration:
            if not self.loop or self.finished:
                self.finished = True
                return None
            self.loops += 1
            self._tape = self._tape_factory()
            try:
                return next(self._tape)
            except StopIteration:
                self.finished = True
                return None

    def _apply(self, agg: Agg, fills: int, when: int) -> None:
        k = self.loops
        if agg.a >= 0:
            a = agg.a + k * self.agg_span
        else:
            a = self.next_agg
            self.next_agg += 1
        if agg.f >= 0:
            f, last = agg.f + k * self.trade_span, agg.l + k * self.trade_span
        else:
            f = self.next_trade
            last = f + fills - 1
            self.next_trade = last + 1
        st = self.state
        st.add_agg(Agg(a, agg.p, agg.q, f, last, when, agg.m, agg.parts))
        self._avg_q = agg.q if self._avg_q == 0 else 0.95 * self._avg_q + 0.05 * agg.q
        # The trade consumes the level it printed at; the other side stays within a few ticks.
        st.print_trade(when, not agg.m, agg.p, agg.q, self._draw_qty(), (_OTHER_SIDE_TICKS, self._draw_qty()))

    def _draw_qty(self) -> int:
        """A resting size drawn around four recent trade sizes (the recording has no book)."""
        step = self.state.spec.step
        return max(step, int(self._avg_q * 4 * math.exp(1.1 * self._rng.gauss(0, 1))) // step * step)

    def describe(self) -> dict[str, Any]:
        """Progress of this replay."""
        return {
            "symbol": self.state.spec.symbol,
            "loops": self.loops,
            "finished": self.finished,
            "shift_ms": self.shift,
        }
