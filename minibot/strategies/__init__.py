"""minibot.strategies: the NORE strategy as a pure core (`StrategyCore`)."""

from minibot.strategies.nore_strategy import StrategyCore

__all__ = ["StrategyCore"]
