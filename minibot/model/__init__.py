"""minibot.model: the shared trading model, value types every core and report uses: the exchange's
`SymbolFilters` and the virtual `Portfolio`, and the typed views of the strategy, risk and execution config
sections (`model/config.py`). Pure (no I/O); strategies, risk, execution and metrics depend on it, never on
each other for it."""

from minibot.model.filters import SymbolFilters, filters_from_exchange_info
from minibot.model.portfolio import Portfolio

__all__ = ["Portfolio", "SymbolFilters", "filters_from_exchange_info"]
