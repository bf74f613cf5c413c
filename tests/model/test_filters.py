"""Exchange filters: parsing exchangeInfo, exact rounding, and each rule at / just inside / just outside."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minibot.model.filters import SymbolFilters, filters_from_exchange_info
from minibot.reasons import RejectCode

from ..core.fixtures import EXCHANGE_INFO, exchange_filters

D = Decimal


def code(found: tuple[RejectCode, str] | None) -> RejectCode | None:
    """The reject code of a check result (None when it passed)."""
    return None if found is None else found[0]


@pytest.fixture
def btc() -> SymbolFilters:
    return exchange_filters()["BTCUSDT"]


def test_parses_exchange_info(btc: SymbolFilters) -> None:
    assert set(filters_from_exchange_info(EXCHANGE_INFO)) == {"BTCUSDT", "ETHUSDT"}
    assert (btc.tick_size, btc.step_size, btc.min_qty, btc.min_notional) == (
        D("0.01"),
        D("0.00001"),
        D("0.00001"),
        D(5),
    )
    assert btc.apply_min_to_market and not btc.apply_max_to_market and btc.market_max_qty == D(83)
    assert (btc.base_asset, btc.quote_asset) == ("BTC", "USDT")


def test_legacy_min_notional_and_missing_filters() -> None:
    info = {
        "symbol": "XRPETH",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.00000001",
                "maxPrice": "1000",
                "tickSize": "0.00000001",
            },
            {"filterType": "LOT_SIZE", "minQty": "1", "maxQty": "90000000", "stepSize": "1"},
            {"filterType": "MIN_NOTIONAL", "minNotional": "0.001", "applyToMarket": False, "avgPriceMins": 5},
        ],
    }
    f = SymbolFilters.from_symbol_info(info)
    assert f.min_notional == D("0.001") and not f.apply_min_to_market
    assert f.check_notional(D("0.0001"), market=True) is None
    assert f.check_notional(D("0.0001"), market=False) is not None
    no_lot = {"symbol": "ABCUSDT", "filters": [info["filters"][0]]}
    with pytest.raises(ValueError):
        SymbolFilters.from_symbol_info(no_lot)
    assert filters_from_exchange_info({"symbols": [no_lot, info]}).keys() == {"XRPETH"}


def test_rounding_has_no_float_drift(btc: SymbolFilters) -> None:
    assert btc.floor_qty(0.1 + 0.2, market=False) == D("0.3")  # 0.30000000000000004 as a float
    assert btc.floor_qty(0.00811, market=False) == D("0.00811")
    assert btc.floor_qty(0.0081099999, market=False) == D("0.0081")
    assert btc.round_price(61837.635, "BUY") == D("61837.63")
    assert btc.round_price(61837.635, "SELL") == D("61837.64")
    assert btc.round_price(61837.63, "SELL") == D("61837.63")


@given(st.floats(min_value=1e-6, max_value=1e4, allow_nan=False))
def test_floor_qty_is_on_the_step_and_never_rounds_up(qty: float) -> None:
    f = exchange_filters()["BTCUSDT"]
    q = f.floor_qty(qty, market=False)
    assert q % f.step_size == 0 and q <= D(str(qty)) < q + f.step_size


def test_lot_size_limits(btc: SymbolFilters) -> None:
    assert btc.check_qty(D("0.00001"), market=False) is None  # at minQty
    assert code(btc.check_qty(D("0.000009"), market=False)) == RejectCode.FILTER_LOT_SIZE
    assert btc.check_qty(D(9000), market=False) is None  # at maxQty
    assert code(btc.check_qty(D("9000.00001"), market=False)) == RejectCode.FILTER_LOT_SIZE
    assert btc.check_qty(D(83), market=True) is None  # at MARKET_LOT_SIZE maxQty
    assert code(btc.check_qty(D("83.00001"), market=True)) == RejectCode.FILTER_LOT_SIZE
    assert btc.check_qty(D("83.00001"), market=False) is None
    assert btc.check_qty(D(0), market=False) is not None


def test_price_limits(btc: SymbolFilters) -> None:
    assert btc.check_price(D("0.01")) is None
    assert btc.check_price(D("0.00")) is not None
    assert btc.check_price(D(1_000_000)) is None
    assert code(btc.check_price(D("1000000.01"))) == RejectCode.FILTER_PRICE


def test_notional_limits(btc: SymbolFilters) -> None:
    assert btc.check_notional(D(5), market=True) is None  # at minNotional
    assert btc.check_notional(D("5.00000001"), market=True) is None
    assert code(btc.check_notional(D("4.99999999"), market=True)) == RejectCode.FILTER_MIN_NOTIONAL
    assert btc.check_notional(D(9_000_000), market=False) is None  # at maxNotional
    assert code(btc.check_notional(D("9000000.01"), market=False)) == RejectCode.FILTER_MAX_NOTIONAL
    assert btc.check_notional(D("9000000.01"), market=True) is None  # applyMaxToMarket is false
