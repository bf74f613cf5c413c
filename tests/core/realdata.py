"""Real Binance recordings (tests/shared_data.py locates them) turned into `market_tick` envelopes for tests and bench.

Trades come from `trades/<SYM>-trades-*.csv` (trade id, price, qty, exchange time `T`). Each trade is
matched by its id to the same `@trade` message in the raw websocket recording
`ws/hftbacktest_spot_<sym>_*.gz`, which gives (a) its local receive time, used as the tick `ts` (as a live
market_role stamps ticks on the run clock; `exchange_ts` keeps Binance's `T`, the two clocks differ by
~1.3 s in this recording), and (b) the best bid/ask and their quantities from the latest `@bookTicker`
message received before it. With `include_book=True` every
bookTicker message also becomes a `book` tick (price = mid). A trade the recording does not cover, or one
received before the first bookTicker, gets a documented synthetic quote: bid/ask one tick (0.01) either side
of the trade price with unknown (0) quantities.
"""

from __future__ import annotations

import csv
import gzip
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from tests.core.builders import env
from tests.shared_data import BINANCE_DIR as BINANCE_DIR  # re-exported: bench/ scripts import it from here
from tests.shared_data import TRADES_DIR, WS_DIR, require_glob

SYNTHETIC_HALF_SPREAD = 0.01

Quote = tuple[float, float, float, float]


def _trade_files(symbol: str) -> list[Path]:
    return require_glob(TRADES_DIR, f"{symbol}-trades-*.csv")


def _ws_files(symbol: str) -> list[Path]:
    return require_glob(WS_DIR, f"hftbacktest_spot_{symbol.lower()}_*.gz")


def _read_ws(symbol: str) -> tuple[dict[int, tuple[int, Quote | None]], list[tuple[int, Quote]]]:
    """Per trade id: (receive ns, latest quote or None); and the (receive ns, quote) book updates."""
    trades: dict[int, tuple[int, Quote | None]] = {}
    books: list[tuple[int, Quote]] = []
    quote: Quote | None = None
    for path in _ws_files(symbol):
        with gzip.open(path, "rb") as fh:
            for line in fh:
                local_ns, _, raw = line.partition(b" ")
                if b'"stream"' not in raw[:20]:
                    continue  # the REST depth snapshot line
                msg = orjson.loads(raw)
                stream, data = msg["stream"], msg["data"]
                recv_ns = int(local_ns)
                if stream.endswith("@bookTicker"):
                    quote = (float(data["b"]), float(data["a"]), float(data["B"]), float(data["A"]))
                    books.append((recv_ns, quote))
                elif stream.endswith("@trade"):
                    trades[int(data["t"])] = (recv_ns, quote)
    return trades, books


@lru_cache(maxsize=8)
def load_ticks(symbol: str = "BTCUSDT", include_book: bool = False) -> tuple[dict[str, Any], ...]:
    """All market_tick envelopes for `symbol`, in receive order (cached; do not mutate them)."""
    ws_trades, books = _read_ws(symbol)
    rows: list[tuple[int, dict[str, Any]]] = []  # (receive ns, payload)
    for path in _trade_files(symbol):
        with path.open(newline="") as fh:
            for rec in csv.reader(fh):
                trade_id, price, qty, exch_ts = int(rec[0]), float(rec[1]), float(rec[2]), int(rec[4])
                recv_ns, quote = ws_trades.get(trade_id, (exch_ts * 1_000_000, None))
                if quote is None:
                    quote = (price - SYNTHETIC_HALF_SPREAD, price + SYNTHETIC_HALF_SPREAD, 0.0, 0.0)
                payload = {
                    "symbol": symbol,
                    "price": price,
                    "bid": quote[0],
                    "ask": quote[1],
                    "bid_qty": quote[2],
                    "ask_qty": quote[3],
                    "kind": "trade",
                    "exchange_ts": exch_ts,
                    "trade_id": trade_id,
                    "qty": qty,
                }
                rows.append((recv_ns, payload))
    if include_book:
        for recv_ns, (bid, ask, bid_qty, ask_qty) in books:
            payload = {
                "symbol": symbol,
                "price": round((bid + ask) / 2, 8),
                "bid": bid,
                "ask": ask,
                "bid_qty": bid_qty,
                "ask_qty": ask_qty,
                "kind": "book",
                "exchange_ts": None,
                "trade_id": None,
            }
            rows.append((recv_ns, payload))
    rows.sort(key=lambda r: r[0])  # stable: equal receive times keep trades-then-books file order
    return tuple(env("market_tick", payload, ns // 1_000_000, n, scope=symbol) for n, (ns, payload) in enumerate(rows))


def merge_ticks(*streams: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """Several symbols' ticks merged by ts (stable: ties keep the argument order)."""
    merged = [(t["ts"], i, j, t) for i, s in enumerate(streams) for j, t in enumerate(s)]
    merged.sort(key=lambda r: (r[0], r[1], r[2]))
    return [r[3] for r in merged]
