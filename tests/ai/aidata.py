"""Real Binance recordings (../shared/data/binance) as `market_tick` envelopes for the AI tests and bench.

- `trade_ticks(symbol)`: every row of `trades/<SYM>-trades-*.csv` becomes a `trade` tick at its exchange
  time. The CSV has no book, so the quote is set at the touch the trade hit (documented approximation):
  a buyer-maker trade hit the bid (bid = price, ask = price + 0.01), otherwise it lifted the ask
  (ask = price, bid = price - 0.01); quantities unknown (0).
- `kline_ticks(symbol, limit)`: each USD-M futures 1m kline becomes one `kline` tick at `close_time + 1`
  with price = bid = ask = close and qty = volume.
Envelopes come from tests/core/builders.py (deterministic ids, so runs are repeatable); the recordings are
located by tests/shared_data.py.
"""

from __future__ import annotations

import copy
import csv
import gzip
import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from minibot.config.loader import default_config_path
from tests.core.builders import env
from tests.shared_data import KLINES_DIR, TRADES_DIR, require, require_glob

HALF_TICK = 0.01


@lru_cache(maxsize=4)
def trade_ticks(symbol: str) -> tuple[dict[str, Any], ...]:
    """All trades of `symbol` as market_tick envelopes, in trade-id order (cached: do not mutate)."""
    out = []
    for path in require_glob(TRADES_DIR, f"{symbol}-trades-*.csv"):
        with path.open(newline="") as fh:
            for n, rec in enumerate(csv.reader(fh)):
                price, qty, ts = float(rec[1]), float(rec[2]), int(rec[4])
                buyer_maker = rec[5] == "True"
                bid, ask = (price, price + HALF_TICK) if buyer_maker else (price - HALF_TICK, price)
                payload = {
                    "symbol": symbol, "price": price, "bid": bid, "ask": ask, "bid_qty": 0.0, "ask_qty": 0.0,
                    "kind": "trade", "exchange_ts": ts, "trade_id": int(rec[0]), "qty": qty,
                }  # fmt: skip
                out.append(env("market_tick", payload, ts, n, scope=symbol))
    return tuple(out)


def kline_ticks(symbol: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The first `limit` 1m futures klines of `symbol` as market_tick envelopes."""
    path = KLINES_DIR / f"{symbol}-1m-2026-02.csv.gz"
    require(path)
    out = []
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)  # header
        for n, rec in enumerate(reader):
            if limit is not None and n >= limit:
                break
            close, volume, close_time = float(rec[4]), float(rec[5]), int(rec[6])
            payload = {
                "symbol": symbol, "price": close, "bid": close, "ask": close, "bid_qty": 0.0, "ask_qty": 0.0,
                "kind": "kline", "exchange_ts": close_time, "trade_id": None, "qty": max(volume, 1e-9),
            }  # fmt: skip
            out.append(env("market_tick", payload, close_time + 1, n, scope=f"kline/{symbol}"))
    return out


def merged(*streams: Any) -> Iterator[dict[str, Any]]:
    """Several symbols' ticks merged by ts (stable)."""
    rows = sorted(((t["ts"], i, j, t) for i, s in enumerate(streams) for j, t in enumerate(s)), key=lambda r: r[:3])
    return (r[3] for r in rows)


def ai_cfg(*layers: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """The shipped `ai` defaults with layers then overrides merged on top (nested dicts merge)."""
    cfg = json.loads(default_config_path().read_text(encoding="utf-8"))["ai"]
    for layer in (*layers, overrides):
        cfg = _merge(cfg, layer)
    return cfg


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) else value
    return out


# Settings for the 10-minute trade recordings: second-scale windows and horizon.
TRADES_CFG: dict[str, Any] = {
    "horizon_ms": 5000,
    "window_ms": 600000,
    "retrain_interval_ms": 60000,
    "sample_interval_ms": 250,
    "recommend_interval_ms": 1000,
    "min_rows": 400,
    "shard_rows": 1000,
    "features": {
        "return_windows_ms": [1000, 5000, 15000, 30000],
        "volatility_window_ms": 10000,
        "rsi_window_ms": 10000,
        "flow_window_ms": 5000,
    },
}

# Settings for the 1m futures klines: minute-scale windows, 15-minute horizon, daily retraining.
KLINES_CFG: dict[str, Any] = {
    "horizon_ms": 900_000,
    "window_ms": 3 * 86_400_000,
    "retrain_interval_ms": 43_200_000,
    "sample_interval_ms": 60_000,
    "recommend_interval_ms": 60_000,
    "min_rows": 1000,
    "shard_rows": 2000,
    "features": {
        "return_windows_ms": [300_000, 900_000, 3_600_000, 14_400_000],
        "volatility_window_ms": 3_600_000,
        "rsi_window_ms": 3_600_000,
        "flow_window_ms": 900_000,
    },
    "gate": {"min_holdout_rows": 200},
    "rollback": {"window_rows": 500},
}


def drive(engine: Any, ticks: Any, wait: bool = True) -> list[dict[str, Any]]:
    """Feed ticks as the ai_role runner would (maybe_train on the tick's time); the recommendations.

    `wait=True` finishes each training round before the next tick, which makes a run reproducible.
    """
    recs = []
    for event in ticks:
        recs.extend(engine.on_event(event))
        if engine.maybe_train(event["ts"]) and wait:
            engine.wait_training()
    engine.close()
    return recs
