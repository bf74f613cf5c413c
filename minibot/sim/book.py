"""A persistent order book per symbol: the one book behind `/api/v3/depth`, `@depth<N>`, the diff-depth
stream `@depth` and `@bookTicker`.

Levels persist between updates, so a client keeping a local book from the diff stream sees the same book
REST serves. Every change is logged with the update id it belongs to while a diff-depth stream of the
symbol is subscribed (`log_from`), so a diff event can be cut for any contiguous id range.

Depth the feeds do not drive is filled in from the symbol's seed, from the first time a client asks for
depth (`/depth`, a depth stream) on: a side thinner than `MIN_LEVELS` gets new
levels beyond its worst price (gaps of one tick or more, sizes growing with distance), a side longer than
`MAX_LEVELS` loses its worst ones, and each quote update (not each trade) re-sizes one resting level
among the best ten of one side (quotes are amended all the time on a real book). Prices and quantities are e8 integers.
"""

from __future__ import annotations

import bisect
import math
import random

MIN_LEVELS = 100
MAX_LEVELS = 200
_AMEND_WITHIN = 10

Change = tuple[int, bool, int, int]  # (update id, is bid, price, qty; 0 = level removed)


class BookSide:
    """One side: ascending price list plus price -> quantity; `bid` decides which end is best."""

    __slots__ = ("bid", "prices", "qty")

    def __init__(self, bid: bool) -> None:
        self.bid = bid
        self.prices: list[int] = []
        self.qty: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.prices)

    def best(self) -> tuple[int, int] | None:
        """Best (price, qty), None when empty."""
        if not self.prices:
            return None
        p = self.prices[-1] if self.bid else self.prices[0]
        return p, self.qty[p]

    def worst(self) -> int:
        """Price furthest from the touch (the side must not be empty)."""
        return self.prices[0] if self.bid else self.prices[-1]

    def top(self, n: int) -> list[tuple[int, int]]:
        """Up to `n` levels, best first."""
        q = self.qty
        chosen = self.prices[-n:][::-1] if self.bid else self.prices[:n]
        return [(p, q[p]) for p in chosen]

    def nth_price(self, i: int) -> int:
        """Price of the i-th best level (0 = best)."""
        return self.prices[-1 - i] if self.bid else self.prices[i]

    def set(self, price: int, qty: int) -> None:
        """Set a level; qty 0 removes it."""
        if qty <= 0:
            if price in self.qty:
                del self.qty[price]
                del self.prices[bisect.bisect_left(self.prices, price)]
            return
        if price not in self.qty:
            bisect.insort(self.prices, price)
        self.qty[price] = qty

    def through(self, price: int, inclusive: bool) -> list[int]:
        """Prices at or better than `price` (better only unless `inclusive`): what a move to `price` removes."""
        if self.bid:
            i = bisect.bisect_left(self.prices, price) if inclusive else bisect.bisect_right(self.prices, price)
            return self.prices[i:]
        i = bisect.bisect_right(self.prices, price) if inclusive else bisect.bisect_left(self.prices, price)
        return self.prices[:i]


class Book:
    """Both sides, the change log for diff streams and the deterministic filler of unseen depth."""

    def __init__(self, tick: int, step: int, seed: int) -> None:
        self.tick = tick
        self.step = step
        self.bids = BookSide(True)
        self.asks = BookSide(False)
        self.changes: list[Change] = []
        # Oldest update id a diff stream still needs (None: no diff stream subscribed, nothing is logged).
        self.log_from: int | None = None
        self.uid = 0
        # False until a client asks for depth: until then only the levels the feeds place are kept (no
        # fill, no amendments), which keeps a bookTicker-only market as cheap as a top-of-book one.
        self.deep = False
        self._rng = random.Random(seed)
        self._mult = [math.exp(self._rng.gauss(0.0, 0.9)) for _ in range(997)]
        self._k = 0

    def side(self, bid: bool) -> BookSide:
        """The bid or ask side."""
        return self.bids if bid else self.asks

    def set(self, bid: bool, price: int, qty: int) -> None:
        """Change one level as part of update `uid`."""
        (self.bids if bid else self.asks).set(price, qty)
        if self.log_from is not None:
            self.changes.append((self.uid, bid, price, max(0, qty)))

    def clear_through(self, bid: bool, price: int, inclusive: bool) -> None:
        """Remove the levels of one side at or better than `price` (taken or cancelled)."""
        side = self.bids if bid else self.asks
        prices = side.prices
        if not prices:
            return
        # Most moves remove nothing: answer from the best level alone (this runs several times per update).
        best = prices[-1] if bid else prices[0]
        if best == price:
            if not inclusive:
                return
        elif (best < price) == bid:
            return
        for p in side.through(price, inclusive):
            self.set(bid, p, 0)

    def place_top(self, bid: bool, price: int, qty: int) -> None:
        """Make (price, qty) the best of a side: better levels go, worse stay, the other side is uncrossed."""
        self.clear_through(bid, price, inclusive=False)
        self.clear_through(not bid, price, inclusive=True)
        self.set(bid, price, qty)

    def take(self, bid: bool, price: int, qty: int, refill: int) -> None:
        """A trade printed at `price` against this side: better levels were swept, the level shrinks by `qty`.

        When the level shows less than the trade (the recording proves the liquidity was there), it is
        first taken to have held `qty + refill`, so the book never contradicts the tape.
        """
        self.clear_through(bid, price, inclusive=False)
        self.clear_through(not bid, price, inclusive=True)
        have = (self.bids if bid else self.asks).qty.get(price, 0)
        if have < qty:
            have = qty + refill
        self.set(bid, price, have - qty)

    def finish(self, size_hint: int, amend: bool) -> None:
        """End of an update: fill thin sides, trim long ones, and (`amend`) re-size one resting level."""
        for side in (self.bids, self.asks):
            n = len(side.prices)
            if self.deep and n and n < MIN_LEVELS:
                self._fill(side, size_hint)
            while len(side.prices) > MAX_LEVELS:
                self.set(side.bid, side.worst(), 0)
        if amend and self.deep:
            u = self._rng.random()
            side = self.bids if u < 0.5 else self.asks
            n = min(len(side.prices), _AMEND_WITHIN)
            if n > 1:
                i = 1 + int((u * 2.0 % 1.0) * (n - 1))
                self.set(side.bid, side.nth_price(i), self._size(size_hint, i))

    def _size(self, size_hint: int, distance: int) -> int:
        # Lognormal multipliers drawn once: cheap, and still a function of the seed alone.
        self._k = (self._k + 1) % len(self._mult)
        raw = size_hint * self._mult[self._k] * (1.0 + distance / 8.0)
        return max(self.step, int(raw) // self.step * self.step)

    def _fill(self, side: BookSide, size_hint: int) -> None:
        rng = self._rng
        price = side.worst()
        k = len(side.prices)
        while k < MIN_LEVELS:
            gap = 1
            while rng.random() < 0.4 and gap < 8:
                gap += 1
            price = price - gap * self.tick if side.bid else price + gap * self.tick
            if price <= 0:
                return
            self.set(side.bid, price, self._size(size_hint, k))
            k += 1

    def diff(self, after: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Net level changes of updates with id > `after`: (bids, asks), each [(price, qty)], best first."""
        changes = self.changes
        i = bisect.bisect_right(changes, after, key=lambda c: c[0])
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for _, bid, price, qty in changes[i:]:
            (bids if bid else asks)[price] = qty
        return sorted(bids.items(), reverse=True), sorted(asks.items())

    def forget_until(self, uid: int) -> None:
        """Drop logged changes no diff stream needs any more (ids <= `uid`)."""
        i = bisect.bisect_right(self.changes, uid, key=lambda c: c[0])
        if i:
            del self.changes[:i]
