"""Symbol specifications: assets, tick and step sizes, and the exchangeInfo entry built from them.

Well-known symbols get Binance's real filters and a plausible base price; any other symbol gets values
derived from a hash of its name, so every symbol list works and the same name always looks the same.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

from minibot.marketdata.num import E8, fmt8, parse_e8

# (base price, tickSize, stepSize, annual volatility, trades per second, median trade notional in quote)
_KNOWN: dict[str, tuple[str, str, str, float, float, float]] = {
    "BTCUSDT": ("60000", "0.01", "0.00001", 0.55, 8.0, 400.0),
    "ETHUSDT": ("3000", "0.01", "0.0001", 0.70, 6.0, 300.0),
    "BNBUSDT": ("550", "0.01", "0.001", 0.60, 3.0, 150.0),
    "SOLUSDT": ("150", "0.01", "0.001", 0.90, 5.0, 200.0),
    "XRPUSDT": ("0.5", "0.0001", "0.1", 0.85, 4.0, 150.0),
    "DOGEUSDT": ("0.12", "0.00001", "1", 1.00, 4.0, 120.0),
    "ADAUSDT": ("0.4", "0.0001", "0.1", 0.85, 2.0, 100.0),
    "LTCUSDT": ("70", "0.01", "0.001", 0.75, 1.5, 100.0),
    "LINKUSDT": ("13", "0.01", "0.01", 0.85, 1.5, 100.0),
    "DOTUSDT": ("5", "0.001", "0.01", 0.85, 1.0, 80.0),
    "AVAXUSDT": ("25", "0.01", "0.01", 0.90, 1.5, 100.0),
    "ETHBTC": ("0.05", "0.00001", "0.0001", 0.45, 1.5, 0.005),
    "BNBBTC": ("0.009", "0.000001", "0.001", 0.45, 0.8, 0.003),
    "XRPETH": ("0.0014", "0.00000001", "1", 0.60, 0.2, 0.1),
}
_QUOTES = ("USDT", "USDC", "FDUSD", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "JPY")
# minNotional of Binance's NOTIONAL filter by quote asset (quote units).
_MIN_NOTIONAL = {"BTC": "0.0001", "ETH": "0.001", "BNB": "0.01", "TRY": "100", "BRL": "10", "JPY": "1000"}
_STABLE_MIN_NOTIONAL = "5"
ORDER_TYPES = [
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]


@dataclass(frozen=True)
class SymbolSpec:
    """Everything static about one symbol. Prices and quantities in e8 units."""

    symbol: str
    base: str
    quote: str
    tick: int
    step: int
    base_price: int
    annual_vol: float
    trades_per_s: float
    median_notional: float

    @property
    def lower(self) -> str:
        """Stream-name form of the symbol."""
        return self.symbol.lower()

    def min_notional(self) -> int:
        """Smallest order value in quote units (e8)."""
        return parse_e8(_MIN_NOTIONAL.get(self.quote, _STABLE_MIN_NOTIONAL))

    def max_qty(self) -> int:
        """LOT_SIZE maxQty: about 10M quote worth, rounded to a power of ten the way Binance's values look."""
        qty_units = 10 ** max(0, round(math.log10(max(1e-8, 1e7 / (self.base_price / E8)))))
        return min(qty_units * E8, 90_000_000 * E8)


def split_symbol(symbol: str) -> tuple[str, str]:
    """Base and quote asset of a symbol name (known quote suffixes first, else an even split)."""
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    half = len(symbol) // 2
    return symbol[:half], symbol[half:]


def _hash_unit(symbol: str, salt: str) -> float:
    return zlib.crc32(f"{salt}:{symbol}".encode()) / 0xFFFFFFFF


def make_spec(symbol: str, tick: int | None = None, step: int | None = None, price: int | None = None) -> SymbolSpec:
    """Spec for any symbol; known names get real filters, data files may override tick, step and price."""
    base, quote = split_symbol(symbol)
    known = _KNOWN.get(symbol)
    if known is not None:
        base_price, k_tick, k_step = parse_e8(known[0]), parse_e8(known[1]), parse_e8(known[2])
        vol, rate, notional = known[3], known[4], known[5]
    else:
        # Log-uniform price between 0.01 and 1000 quote units, with Binance's usual ~5 significant digits.
        base_px = 10 ** (-2 + 5 * _hash_unit(symbol, "price"))
        k_tick = max(1, int(10 ** (math.floor(math.log10(base_px)) - 4) * E8))
        base_price = max(k_tick, int(base_px * E8) // k_tick * k_tick)
        vol = 0.6 + 0.6 * _hash_unit(symbol, "vol")
        rate = 0.5 + 2.5 * _hash_unit(symbol, "rate")
        notional = 50.0 if quote in ("USDT", "USDC", "FDUSD", "TUSD", "BUSD", "EUR") else 0.002
        # A step about 1/100 of a typical trade, so trade sizes keep their spread after rounding.
        k_step = max(1, min(E8, int(10 ** (math.floor(math.log10(notional / base_px)) - 2) * E8)))
    return SymbolSpec(
        symbol=symbol,
        base=base,
        quote=quote,
        tick=tick or k_tick,
        step=step or k_step,
        base_price=price or base_price,
        annual_vol=vol,
        trades_per_s=rate,
        median_notional=notional,
    )


def exchange_symbol(spec: SymbolSpec) -> dict[str, Any]:
    """The `symbols[]` entry of /api/v3/exchangeInfo for this spec, shaped like production's."""
    max_price = max(spec.base_price * 1000 // spec.tick * spec.tick, spec.tick)
    max_qty = spec.max_qty()
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "opoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": spec.quote in ("USDT", "USDC", "BTC"),
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt8(spec.tick),
                "maxPrice": fmt8(max_price),
                "tickSize": fmt8(spec.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt8(spec.step),
                "maxQty": fmt8(max_qty),
                "stepSize": fmt8(spec.step),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": fmt8(0),
                "maxQty": fmt8(max_qty // 10 // spec.step * spec.step),
                "stepSize": fmt8(0),
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt8(spec.min_notional()),
                "applyMinToMarket": True,
                "maxNotional": fmt8(9_000_000 * E8),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]] if spec.quote in ("USDT", "USDC", "BTC") else [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": [
            "NONE",
            "EXPIRE_TAKER",
            "EXPIRE_MAKER",
            "EXPIRE_BOTH",
            "DECREMENT",
        ],
    }
