"""Configs and exchange filters for the core tests: the shipped defaults and Binance-like exchangeInfo."""

from __future__ import annotations

import copy
import json
from typing import Any

from minibot.config.loader import default_config_path
from minibot.model.filters import SymbolFilters, filters_from_exchange_info

# The filters Binance spot publishes for these symbols (tick, step, minNotional as of 2024).
EXCHANGE_INFO: dict[str, Any] = {
    "timezone": "UTC",
    "symbols": [
        {
            "symbol": sym,
            "status": "TRADING",
            "baseAsset": base,
            "quoteAsset": "USDT",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.01000000",
                    "maxPrice": "1000000.00000000",
                    "tickSize": "0.01000000",
                },
                {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.00000000",
                    "maxQty": mkt_max,
                    "stepSize": "0.00000000",
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": "5.00000000",
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
        }
        for sym, base, step, mkt_max in (
            ("BTCUSDT", "BTC", "0.00001000", "83.00000000"),
            ("ETHUSDT", "ETH", "0.00010000", "2500.00000000"),
        )
    ],
}


def default_section(name: str) -> dict[str, Any]:
    """A fresh copy of section `name` of the shipped minibot/config/nore.v1.json."""
    return copy.deepcopy(json.loads(default_config_path().read_text(encoding="utf-8"))[name])


def exchange_filters() -> dict[str, SymbolFilters]:
    """BTCUSDT and ETHUSDT filters parsed from EXCHANGE_INFO."""
    return filters_from_exchange_info(EXCHANGE_INFO)
