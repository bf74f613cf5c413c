"""Binance symbol filters (exchangeInfo) and exact Decimal rounding of prices and quantities.

Parsed: PRICE_FILTER (tickSize, minPrice, maxPrice), LOT_SIZE (stepSize, minQty, maxQty), MARKET_LOT_SIZE
(same, for MARKET orders), NOTIONAL (minNotional/applyMinToMarket, maxNotional/applyMaxToMarket) or the legacy
MIN_NOTIONAL (minNotional/applyToMarket). As Binance documents, a value of 0 disables that rule. Rounding
goes through `Decimal(str(x))` so a float like 0.1 + 0.2 never becomes 0.30000000000000004 units of a step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from minibot.reasons import RejectCode

ZERO = Decimal(0)


def to_decimal(x: float | str | int | Decimal) -> Decimal:
    """Exact decimal of a JSON number as written (`str(float)` is its shortest repr)."""
    return x if isinstance(x, Decimal) else Decimal(str(x))


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` <= value (value itself when step is 0, i.e. disabled)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of `step` >= value (value itself when step is 0)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """The trading rules of one symbol, as Decimals."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step_size: Decimal = ZERO
    market_min_qty: Decimal = ZERO
    market_max_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    apply_min_to_market: bool = True
    max_notional: Decimal = ZERO
    apply_max_to_market: bool = False

    @classmethod
    def from_symbol_info(cls, info: Mapping[str, Any]) -> SymbolFilters:
        """Build from one `symbols[]` entry of exchangeInfo; PRICE_FILTER and LOT_SIZE are required."""
        by_type = {f["filterType"]: f for f in info.get("filters", ())}
        price, lot = by_type.get("PRICE_FILTER"), by_type.get("LOT_SIZE")
        if price is None or lot is None:
            raise ValueError(f"{info.get('symbol')}: exchangeInfo lacks PRICE_FILTER or LOT_SIZE")
        mlot = by_type.get("MARKET_LOT_SIZE", {})
        kw: dict[str, Any] = {}
        if "NOTIONAL" in by_type:
            n = by_type["NOTIONAL"]
            kw = {
                "min_notional": to_decimal(n.get("minNotional", "0")),
                "apply_min_to_market": bool(n.get("applyMinToMarket", True)),
                "max_notional": to_decimal(n.get("maxNotional", "0")),
                "apply_max_to_market": bool(n.get("applyMaxToMarket", False)),
            }
        elif "MIN_NOTIONAL" in by_type:
            n = by_type["MIN_NOTIONAL"]
            kw = {
                "min_notional": to_decimal(n.get("minNotional", "0")),
                "apply_min_to_market": bool(n.get("applyToMarket", True)),
            }
        return cls(
            symbol=str(info["symbol"]),
            base_asset=str(info.get("baseAsset", "")),
            quote_asset=str(info.get("quoteAsset", "")),
            tick_size=to_decimal(price["tickSize"]),
            min_price=to_decimal(price["minPrice"]),
            max_price=to_decimal(price["maxPrice"]),
            step_size=to_decimal(lot["stepSize"]),
            min_qty=to_decimal(lot["minQty"]),
            max_qty=to_decimal(lot["maxQty"]),
            market_step_size=to_decimal(mlot.get("stepSize", "0")),
            market_min_qty=to_decimal(mlot.get("minQty", "0")),
            market_max_qty=to_decimal(mlot.get("maxQty", "0")),
            **kw,
        )

    def floor_qty(self, qty: float | Decimal, market: bool) -> Decimal:
        """Round a quantity DOWN to the step (MARKET_LOT_SIZE's step for market orders when it is set)."""
        step = self.market_step_size if market and self.market_step_size > 0 else self.step_size
        return floor_to(to_decimal(qty), step).normalize()

    def round_price(self, price: float | Decimal, side: str) -> Decimal:
        """A price on the tick grid, never more aggressive than asked: BUY rounds down, SELL up."""
        p = to_decimal(price)
        return (floor_to(p, self.tick_size) if side == "BUY" else ceil_to(p, self.tick_size)).normalize()

    def check_qty(self, qty: Decimal, market: bool) -> tuple[RejectCode, str] | None:
        """LOT_SIZE (and MARKET_LOT_SIZE for market orders): minQty <= qty <= maxQty."""
        limits = [(self.min_qty, self.max_qty, "LOT_SIZE")]
        if market:
            limits.append((self.market_min_qty, self.market_max_qty, "MARKET_LOT_SIZE"))
        for lo, hi, name in limits:
            if qty <= 0 or (lo > 0 and qty < lo) or (hi > 0 and qty > hi):
                return RejectCode.FILTER_LOT_SIZE, f"{name}: qty {qty} outside [{lo}, {hi or 'inf'}]"
        return None

    def check_price(self, price: Decimal) -> tuple[RejectCode, str] | None:
        """PRICE_FILTER: minPrice <= price <= maxPrice (price is already on the tick grid)."""
        if (
            price <= 0
            or (self.min_price > 0 and price < self.min_price)
            or (self.max_price > 0 and price > self.max_price)
        ):
            return (
                RejectCode.FILTER_PRICE,
                f"PRICE_FILTER: price {price} outside [{self.min_price}, {self.max_price}]",
            )
        return None

    def check_notional(self, notional: Decimal, market: bool) -> tuple[RejectCode, str] | None:
        """NOTIONAL / MIN_NOTIONAL, honouring applyMinToMarket / applyMaxToMarket for market orders."""
        if self.min_notional > 0 and (not market or self.apply_min_to_market) and notional < self.min_notional:
            return RejectCode.FILTER_MIN_NOTIONAL, f"notional {notional} < minNotional {self.min_notional}"
        if self.max_notional > 0 and (not market or self.apply_max_to_market) and notional > self.max_notional:
            return RejectCode.FILTER_MAX_NOTIONAL, f"notional {notional} > maxNotional {self.max_notional}"
        return None


def filters_from_exchange_info(doc: Mapping[str, Any]) -> dict[str, SymbolFilters]:
    """Every symbol of an exchangeInfo response that has PRICE_FILTER and LOT_SIZE, keyed by symbol."""
    out: dict[str, SymbolFilters] = {}
    for info in doc.get("symbols", ()):
        by_type = {f.get("filterType") for f in info.get("filters", ())}
        if {"PRICE_FILTER", "LOT_SIZE"} <= by_type:
            out[str(info["symbol"])] = SymbolFilters.from_symbol_info(info)
    return out
