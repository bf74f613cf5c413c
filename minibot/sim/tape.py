"""One symbol's aggregate trades, oldest first, kept in typed columns.

An `Agg` tuple with its ints and fill quantities costs ~330-490 bytes; the simulator keeps 15 run-clock
minutes of them per symbol (`state.TRADES_KEPT_MS`), ~16,000 for the BTCUSDT recording and up to ~30,000
over two busy synthetic symbols. Here a trade costs ~50 bytes of `array` columns plus 8 per fill quantity,
and an `Agg` is rebuilt only for what an endpoint or a stream reads (issue 14, item 4).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator
from typing import NamedTuple, overload


class Agg(NamedTuple):
    """One aggregate trade (Binance's `a,p,q,f,l,T,m,M`), prices and quantities in e8."""

    a: int
    p: int
    q: int
    f: int
    l: int  # noqa: E741 - Binance's field name
    T: int
    m: bool
    parts: tuple[int, ...] | None = None


class AggTape:
    """A list of `Agg` in columns: append at the end, forget at the front, read by index, slice or time."""

    __slots__ = ("_a", "_at", "_f", "_l", "_m", "_n", "_p", "_parts", "_parts_dropped", "_q", "_t")

    def __init__(self) -> None:
        self._a, self._p, self._q = array("q"), array("q"), array("q")
        self._f, self._l, self._t = array("q"), array("q"), array("q")
        self._m = array("b")
        self._parts = array("q")  # every trade's fill quantities, one after the other
        # Where trade i's quantities start in `_parts`, counted from the first ever appended, so forgetting
        # the front never rewrites this column (`_parts_dropped` says how many are gone), and how many
        # there are (-1: `parts` is None).
        self._at = array("q")
        self._n = array("i")
        self._parts_dropped = 0

    def append(self, agg: Agg) -> None:
        """Add the newest trade."""
        self._a.append(agg.a)
        self._p.append(agg.p)
        self._q.append(agg.q)
        self._f.append(agg.f)
        self._l.append(agg.l)
        self._t.append(agg.T)
        self._m.append(agg.m)
        self._at.append(self._parts_dropped + len(self._parts))
        if agg.parts is None:
            self._n.append(-1)
        else:
            self._n.append(len(agg.parts))
            self._parts.extend(agg.parts)

    def forget(self, n: int) -> None:
        """Drop the `n` oldest trades."""
        n = min(n, len(self._a))
        if n <= 0:
            return
        gone = sum(count for count in self._n[:n] if count > 0)
        for column in (self._a, self._p, self._q, self._f, self._l, self._t, self._m, self._at, self._n):
            del column[:n]
        del self._parts[:gone]
        self._parts_dropped += gone

    def bisect_time(self, t: int, right: bool = False) -> int:
        """Index of the first trade with T >= t (`right`: T > t); times never decrease."""
        return (bisect.bisect_right if right else bisect.bisect_left)(self._t, t)

    def bisect_last_id(self, trade_id: int) -> int:
        """Index of the first trade whose last fill id is >= `trade_id`."""
        return bisect.bisect_left(self._l, trade_id)

    def __len__(self) -> int:
        return len(self._a)

    def _get(self, i: int) -> Agg:
        count = self._n[i]
        parts: tuple[int, ...] | None = None
        if count >= 0:
            start = self._at[i] - self._parts_dropped
            parts = tuple(self._parts[start : start + count])
        return Agg(self._a[i], self._p[i], self._q[i], self._f[i], self._l[i], self._t[i], bool(self._m[i]), parts)

    @overload
    def __getitem__(self, index: int) -> Agg: ...

    @overload
    def __getitem__(self, index: slice) -> list[Agg]: ...

    def __getitem__(self, index: int | slice) -> Agg | list[Agg]:
        if isinstance(index, slice):
            return [self._get(i) for i in range(*index.indices(len(self._a)))]
        n = len(self._a)
        if not -n <= index < n:
            raise IndexError(f"trade index {index} out of range for a tape of {n}")
        return self._get(index % n)

    def __iter__(self) -> Iterator[Agg]:
        return (self._get(i) for i in range(len(self._a)))

    def __reversed__(self) -> Iterator[Agg]:
        return (self._get(i) for i in range(len(self._a) - 1, -1, -1))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AggTape):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list
