"""Order sizing: how much to BUY or SELL for a signal, and at what reference / limit price.

- BUY: target notional = `sizing.quote_notional` (mode `fixed_quote`) or `sizing.equity_fraction` x
  current equity (mode `equity_fraction`); qty = target / reference price, rounded down.
- SELL: the whole free position (long-only spot: a SELL closes what is held, never goes short).
- Reference price: MARKET orders use the side's best price (ask for BUY, bid for SELL); LIMIT orders rest
  `limit_offset_bps` behind the touch (BUY at bid x (1 - offset), SELL at ask x (1 + offset)).
- Rounding: with the symbol's exchange filters, qty down to the step and price to the tick (BUY down, SELL
  up); without them, qty down to 1e-8 and price to 1e-8. notional = qty x reference price, rounded to 1e-8.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from minibot.model.config import RiskConfig
from minibot.model.filters import SymbolFilters, floor_to, to_decimal

_E8 = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class Sized:
    """A sized order: qty, reference price (the limit price for LIMIT orders), notional."""

    qty: float
    price: float
    notional: float
    order_type: str


def size_order(
    side: str,
    cfg: RiskConfig,
    equity: float,
    quote: Mapping[str, Any],
    free_qty: float,
    filters: SymbolFilters | None,
) -> Sized:
    """Size one order from the `risk` config section; qty may come out 0 (the caller refuses it)."""
    sizing = cfg.sizing
    order_type = cfg.order_type
    offset = cfg.limit_offset_bps / 10_000.0
    if order_type == "LIMIT":
        raw_price = quote["bid"] * (1.0 - offset) if side == "BUY" else quote["ask"] * (1.0 + offset)
    else:
        raw_price = quote["ask"] if side == "BUY" else quote["bid"]
    if filters is not None:
        price = filters.round_price(raw_price, side)
    else:
        price = floor_to(to_decimal(raw_price), _E8).normalize()
    if side == "BUY":
        target = equity * sizing.equity_fraction if sizing.mode == "equity_fraction" else sizing.quote_notional
        raw_qty = to_decimal(target) / price if price > 0 else Decimal(0)
    else:
        raw_qty = to_decimal(free_qty)
    if filters is not None:
        qty = filters.floor_qty(raw_qty, order_type == "MARKET")
    else:
        qty = floor_to(raw_qty, _E8).normalize()
    notional = (qty * price).quantize(_E8)
    return Sized(float(qty), float(price), float(notional), order_type)
