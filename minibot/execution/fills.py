"""Paper fill model: which prices and quantities an order gets, its fees, and when a resting limit fills.

Taking liquidity (MARKET orders, and the marketable part of a LIMIT order):
- The book is the depth levels when the tick carries them (optional payload `asks` / `bids`: lists of
  [price, qty], best first), otherwise the single best level (ask/ask_qty for a BUY, bid/bid_qty for a SELL).
- The order takes each level in turn (BUY: asks upwards, SELL: bids downwards), up to the level's
  quantity floored to the order's step; each level taken is one leg, i.e. one `fill` event.
- What the known book cannot fill (a real MARKET order would walk deeper, unseen levels) is filled in one
  more leg at the worst level walked moved against the order by `slippage_bps` (BUY up, SELL down, rounded
  to the tick away from the order's favour): never better than the shown book. A quantity of 0 on the best
  level means "unknown", so the whole order gets that slippage price. A LIMIT order never takes a price
  through its limit: what is left rests instead.
Fees: each leg pays price * qty * fee rate (taker when taking, maker when a resting order fills), rounded
half-even to 1e-8 in the quote asset.
Resting limit orders fill in full at their limit price (MAKER) when the market trades through them: a BUY
when a trade prints below the limit or the ask drops below it, a SELL when a trade prints above the limit
or the bid rises above it. Touching the limit is not enough, since the queue ahead of the order is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from minibot.model.filters import SymbolFilters, ceil_to, floor_to, to_decimal

FEE_QUANTUM = Decimal("0.00000001")
_BPS = Decimal(10_000)
TRADE_KINDS = frozenset(("trade", "agg_trade", "kline"))

Leg = tuple[Decimal, Decimal]  # (price, qty)


def bps_rate(bps: float) -> Decimal:
    """A basis-point figure as an exact Decimal rate (10 bps -> 0.001)."""
    return to_decimal(bps) / _BPS


def fee_for(price: Decimal, qty: Decimal, rate: Decimal) -> Decimal:
    """Fee of one leg in the quote asset."""
    return (price * qty * rate).quantize(FEE_QUANTUM, rounding=ROUND_HALF_EVEN)


def _levels(side: str, quote: Mapping[str, Any]) -> list[tuple[Decimal, Decimal]]:
    depth: Sequence[Sequence[Any]] | None = quote.get("asks" if side == "BUY" else "bids")
    if depth:
        return [(to_decimal(p), to_decimal(q)) for p, q in depth]
    if side == "BUY":
        return [(to_decimal(quote["ask"]), to_decimal(quote["ask_qty"]))]
    return [(to_decimal(quote["bid"]), to_decimal(quote["bid_qty"]))]


def take_liquidity(
    side: str,
    qty: Decimal,
    quote: Mapping[str, Any],
    f: SymbolFilters,
    slippage: Decimal,
    limit: Decimal | None = None,
) -> tuple[list[Leg], Decimal]:
    """Legs taken from `quote` for `qty`, and the quantity left (non-zero only when `limit` stops it)."""
    legs: list[Leg] = []
    remaining = qty
    # A level's quantity is floored to the order's own step (MARKET_LOT_SIZE's for a market order when set),
    # so every leg is a quantity the exchange would accept.
    step = f.market_step_size if limit is None and f.market_step_size > 0 else f.step_size
    last_price: Decimal | None = None
    for price, level_qty in _levels(side, quote):
        if remaining <= 0:
            break
        if limit is not None and (price > limit if side == "BUY" else price < limit):
            return legs, remaining
        last_price = price
        take = min(remaining, floor_to(level_qty, step))
        if take > 0:
            legs.append((price, take))
            remaining -= take
    if remaining > 0:
        ref = last_price if last_price is not None else _levels(side, quote)[0][0]
        if side == "BUY":
            slip_price = ceil_to(ref * (1 + slippage), f.tick_size).normalize()
        else:
            slip_price = floor_to(ref * (1 - slippage), f.tick_size).normalize()
        if slip_price <= 0 or (limit is not None and (slip_price > limit if side == "BUY" else slip_price < limit)):
            return legs, remaining
        legs.append((slip_price, remaining))
        remaining = Decimal(0)
    return legs, remaining


def trades_through(side: str, limit: float, tick: Mapping[str, Any]) -> bool:
    """True when `tick` shows the market trading through a resting limit order at `limit`."""
    if side == "BUY":
        return tick["ask"] < limit or (tick["kind"] in TRADE_KINDS and tick["price"] < limit)
    return tick["bid"] > limit or (tick["kind"] in TRADE_KINDS and tick["price"] > limit)


def vwap(legs: Sequence[Leg]) -> Decimal | None:
    """Average price of the legs, rounded half-even to 1e-8 (None when nothing filled)."""
    qty = sum((q for _, q in legs), Decimal(0))
    if qty <= 0:
        return None
    return (sum((p * q for p, q in legs), Decimal(0)) / qty).quantize(FEE_QUANTUM, rounding=ROUND_HALF_EVEN)
