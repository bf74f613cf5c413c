"""minibot.execution: paper executor (`ExecutionCore`), exchange filters and the virtual `Portfolio`."""

from minibot.execution.core import ExecutionCore
from minibot.execution.filters import SymbolFilters, filters_from_exchange_info
from minibot.execution.portfolio import Portfolio

__all__ = ["ExecutionCore", "Portfolio", "SymbolFilters", "filters_from_exchange_info"]
