"""`nore backtest`: the trading core over recorded Binance public data, in one process, on the market timeline."""
