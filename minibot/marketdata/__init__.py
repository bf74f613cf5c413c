"""Binance market data as published: exact e8 decimals, kline intervals, symbol specifications and the
public-data files (aggTrades, trades, klines). Shared by the simulator (`minibot.sim`) and the backtest
(`minibot.backtest`), so a `--sim --sim-data` night and a backtest of one file read it identically; it
imports nothing else of minibot.
"""
