"""Virtual spot portfolio: cash, long positions, PnL, equity, drawdown and round-trip statistics.

Definitions (docs/core.md):
- Long-only spot: a BUY opens or adds to a position; a SELL only reduces one (selling more than is held is
  inconsistent and raises). Fees are paid in the quote asset.
- avg_price: volume-weighted average of the buys of the open position, fees excluded. entry_fees: the buy
  fees of the open position not yet allocated to sells.
- realized PnL of a SELL of q: (price - avg_price) * q - sell fee - entry_fees * q / qty (net of all fees).
  unrealized PnL: (mark - avg_price) * qty - entry_fees. Hence equity - initial_cash = realized + unrealized.
- equity = cash + sum(qty * mark); mark = the last mark price (the fill price until marked again).
- drawdown = (peak equity - equity) / peak equity; peak and max drawdown are updated on every fill and mark.
- A round trip is one position from flat back to flat; its PnL is the sum of its realized PnL. A win has
  PnL > 0, anything else is a loss; win_rate = wins / trips; R:R = average win / average |loss|.
Cash and quantities are rounded to 1e-8 (Binance's precision) after each fill so a position sold in full is
exactly flat. Sums over positions (equity, exposure, unrealized PnL) are exactly rounded (math.fsum), so
they do not depend on the order positions were opened and a restored snapshot recomputes them bit for bit.
Floats are deterministic, so `rebuild(fills)` reproduces the state bit for bit, and `snapshot()`
round-trips exactly through JSON (shortest-repr floats).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from minibot.reasons import ReasonCode, RiskBreach

SNAPSHOT_VERSION = 1


def _money_sum(terms: list[float]) -> float:
    """Sum money terms exactly rounded (math.fsum), so the result does not depend on their order.

    A plain left-to-right sum does: equity summed in the order positions were opened differed in the last
    bit from the same positions restored from a snapshot (stored sorted), and a restart STOPped
    PORTFOLIO_SNAPSHOT_MISMATCH (issue 13). The terms are also taken in symbol order, for readers.
    """
    return math.fsum(terms)


def _inconsistent(detail: str) -> RiskBreach:
    return RiskBreach(detail, ReasonCode.RISK_INCONSISTENT)


class Position:
    """One open long position."""

    __slots__ = ("avg_price", "entry_fees", "mark", "qty", "trip_pnl")

    def __init__(self, qty: float, avg_price: float, entry_fees: float, mark: float, trip_pnl: float) -> None:
        self.qty = qty
        self.avg_price = avg_price
        self.entry_fees = entry_fees
        self.mark = mark
        self.trip_pnl = trip_pnl

    def as_dict(self) -> dict[str, float]:
        """JSON-safe state."""
        return {
            "qty": self.qty,
            "avg_price": self.avg_price,
            "entry_fees": self.entry_fees,
            "mark": self.mark,
            "trip_pnl": self.trip_pnl,
        }


class Portfolio:
    """Pure accounting: `apply_fill` and `mark` are the only mutators."""

    __slots__ = (
        "cash",
        "fees_paid",
        "fills",
        "gross_loss",
        "gross_win",
        "initial_cash",
        "losses",
        "max_drawdown",
        "peak_equity",
        "positions",
        "quote_asset",
        "realized_pnl",
        "wins",
    )

    def __init__(self, initial_cash: float, quote_asset: str = "USDT") -> None:
        if not (math.isfinite(initial_cash) and initial_cash > 0):
            raise ValueError(f"initial cash must be finite and > 0, got {initial_cash}")
        self.initial_cash = float(initial_cash)
        self.quote_asset = quote_asset
        self.cash = self.initial_cash
        self.positions: dict[str, Position] = {}
        self.realized_pnl = 0.0
        self.fees_paid = 0.0
        self.fills = 0
        self.peak_equity = self.initial_cash
        self.max_drawdown = 0.0
        self.wins = 0
        self.losses = 0
        self.gross_win = 0.0
        self.gross_loss = 0.0

    def apply_fill(self, fill: Mapping[str, Any]) -> float | None:
        """Book one `fill` payload; returns the round trip's PnL when this fill closed a position."""
        symbol, side = fill["symbol"], fill["side"]
        qty, price, fee = float(fill["qty"]), float(fill["price"]), float(fill["fee"])
        if not (math.isfinite(qty) and qty > 0 and math.isfinite(price) and price > 0):
            raise _inconsistent(f"fill {fill.get('order_id')}: qty/price must be finite and > 0")
        if not (math.isfinite(fee) and fee >= 0):
            raise _inconsistent(f"fill {fill.get('order_id')}: fee must be finite and >= 0")
        if fee > 0 and fill.get("fee_asset", self.quote_asset) != self.quote_asset:
            raise _inconsistent(f"fill {fill.get('order_id')}: fee asset {fill.get('fee_asset')!r} unsupported")
        pos = self.positions.get(symbol)
        closed: float | None = None
        if side == "BUY":
            cash = round(self.cash - qty * price - fee, 8)
            if cash < 0:
                raise _inconsistent(f"fill {fill.get('order_id')}: cash would go negative ({cash})")
            self.cash = cash
            if pos is None:
                self.positions[symbol] = Position(qty, price, fee, price, 0.0)
            else:
                new_qty = round(pos.qty + qty, 8)
                pos.avg_price = (pos.avg_price * pos.qty + price * qty) / new_qty
                pos.qty = new_qty
                pos.entry_fees += fee
                pos.mark = price
        elif side == "SELL":
            if pos is None or qty > pos.qty:
                held = 0.0 if pos is None else pos.qty
                raise _inconsistent(f"fill {fill.get('order_id')}: SELL {qty} {symbol} but only {held} held")
            fee_share = pos.entry_fees * (qty / pos.qty)
            realized = (price - pos.avg_price) * qty - fee - fee_share
            self.cash = round(self.cash + qty * price - fee, 8)
            self.realized_pnl += realized
            pos.trip_pnl += realized
            pos.qty = round(pos.qty - qty, 8)
            pos.entry_fees -= fee_share
            pos.mark = price
            if pos.qty <= 0.0:
                closed = pos.trip_pnl
                del self.positions[symbol]
                self._close_trip(closed)
        else:
            raise _inconsistent(f"fill {fill.get('order_id')}: side {side!r} is not BUY/SELL")
        self.fees_paid += fee
        self.fills += 1
        self._track_drawdown(self.equity())
        return closed

    def _close_trip(self, pnl: float) -> None:
        if pnl > 0:
            self.wins += 1
            self.gross_win += pnl
        else:
            self.losses += 1
            self.gross_loss += -pnl

    def _track_drawdown(self, equity: float) -> None:
        if equity > self.peak_equity:
            self.peak_equity = equity
        else:
            dd = (self.peak_equity - equity) / self.peak_equity
            if dd > self.max_drawdown:
                self.max_drawdown = dd

    def mark(self, symbol: str, price: float) -> float:
        """Mark an open position at `price` (flat symbols are ignored); returns equity."""
        pos = self.positions.get(symbol)
        if pos is not None and price > 0:
            pos.mark = price
            equity = self.equity()
            self._track_drawdown(equity)
            return equity
        return self.equity()

    def _sorted(self) -> list[Position]:
        return [self.positions[s] for s in sorted(self.positions)]

    def equity(self) -> float:
        """cash + every position at its mark (an exactly rounded sum: see `_money_sum`).

        Hot path (risk and the executor mark every tick of a held symbol): the exactly rounded sum does not
        depend on the order of its terms, so the positions are not sorted here."""
        terms = [self.cash]
        for p in self.positions.values():
            terms.append(p.qty * p.mark)
        return _money_sum(terms)

    def drawdown(self) -> float:
        """Current drawdown from the peak, as a fraction (0 at a new peak)."""
        return max(0.0, (self.peak_equity - self.equity()) / self.peak_equity)

    def position_qty(self, symbol: str) -> float:
        """Quantity held (0 when flat)."""
        pos = self.positions.get(symbol)
        return 0.0 if pos is None else pos.qty

    def position_notional(self, symbol: str) -> float:
        """qty * mark of one symbol (0 when flat)."""
        pos = self.positions.get(symbol)
        return 0.0 if pos is None else pos.qty * pos.mark

    def exposure(self) -> float:
        """Sum of all positions at their marks."""
        return _money_sum([p.qty * p.mark for p in self._sorted()])

    def unrealized_pnl(self) -> float:
        """(mark - avg_price) * qty - unallocated entry fees, summed over positions."""
        return _money_sum([(p.mark - p.avg_price) * p.qty - p.entry_fees for p in self._sorted()])

    def stats(self) -> dict[str, Any]:
        """Closed round trips: count, wins, losses, win rate, average win / loss, R:R (None if undefined)."""
        trips = self.wins + self.losses
        avg_win = self.gross_win / self.wins if self.wins else None
        avg_loss = self.gross_loss / self.losses if self.losses else None
        return {
            "trips": trips,
            "wins": self.wins,
            "losses": self.losses,
            "win_rate": self.wins / trips if trips else None,
            "avg_win": avg_win,
            "avg_loss": avg_loss,
            "rr": avg_win / avg_loss if avg_win is not None and avg_loss else None,
        }

    def snapshot(self) -> dict[str, Any]:
        """Exact, deterministic, JSON-safe state (derived figures included for readers, checked on load)."""
        return {
            "version": SNAPSHOT_VERSION,
            "quote_asset": self.quote_asset,
            "initial_cash": self.initial_cash,
            "cash": self.cash,
            "positions": {s: self.positions[s].as_dict() for s in sorted(self.positions)},
            "realized_pnl": self.realized_pnl,
            "fees_paid": self.fees_paid,
            "fills": self.fills,
            "peak_equity": self.peak_equity,
            "max_drawdown": self.max_drawdown,
            "wins": self.wins,
            "losses": self.losses,
            "gross_win": self.gross_win,
            "gross_loss": self.gross_loss,
            "equity": self.equity(),
            "unrealized_pnl": self.unrealized_pnl(),
            "stats": self.stats(),
        }

    def ledger(self) -> dict[str, Any]:
        """The part of the state that fills alone determine (no marks, peak or drawdown), for comparing a
        portfolio with `rebuild(fills)`: equal ledgers mean the same fills were booked the same way."""
        return {
            "quote_asset": self.quote_asset,
            "initial_cash": self.initial_cash,
            "cash": self.cash,
            "positions": {
                s: {"qty": p.qty, "avg_price": p.avg_price, "entry_fees": p.entry_fees, "trip_pnl": p.trip_pnl}
                for s, p in sorted(self.positions.items())
            },
            "realized_pnl": self.realized_pnl,
            "fees_paid": self.fees_paid,
            "fills": self.fills,
            "wins": self.wins,
            "losses": self.losses,
            "gross_win": self.gross_win,
            "gross_loss": self.gross_loss,
        }

    @classmethod
    def from_snapshot(cls, snap: Mapping[str, Any]) -> Portfolio:
        """Restore a `snapshot()`; raises if its derived equity does not match its own content."""
        if snap.get("version") != SNAPSHOT_VERSION:
            raise _inconsistent(f"portfolio snapshot version {snap.get('version')!r} unsupported")
        pf = cls(float(snap["initial_cash"]), str(snap["quote_asset"]))
        pf.cash = float(snap["cash"])
        for sym, p in snap["positions"].items():
            pf.positions[sym] = Position(
                float(p["qty"]),
                float(p["avg_price"]),
                float(p["entry_fees"]),
                float(p["mark"]),
                float(p["trip_pnl"]),
            )
        for name in ("realized_pnl", "fees_paid", "peak_equity", "max_drawdown", "gross_win", "gross_loss"):
            setattr(pf, name, float(snap[name]))
        pf.fills, pf.wins, pf.losses = int(snap["fills"]), int(snap["wins"]), int(snap["losses"])
        if pf.equity() != float(snap["equity"]):
            raise _inconsistent(f"portfolio snapshot equity {snap['equity']} != recomputed {pf.equity()}")
        return pf

    @classmethod
    def rebuild(cls, fills: Iterable[Mapping[str, Any]], initial_cash: float, quote_asset: str = "USDT") -> Portfolio:
        """Replay `fill` payloads from a fresh account (the fills journal is the source of truth)."""
        pf = cls(initial_cash, quote_asset)
        for fill in fills:
            pf.apply_fill(fill)
        return pf
