"""minibot: a small Binance trading bot. NORE is its night reliability + paper trading mode."""

__version__ = "0.1.0"
