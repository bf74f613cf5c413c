"""Where the tests and benches find the shared real Binance recordings: the one place that decides it.

The folder is `$NORE_SHARED_DATA` when set, else `../shared/data` next to the repository root (the layout
the project is developed in; see ../shared/data/binance/README.md). The recordings are never copied into
the repository. A test that needs them asks for the `binance_data` fixture (tests/conftest.py) or calls
`require`: a missing file is a test failure naming the path and the variable, never a skip, so a suite that
silently stopped covering the real data cannot pass (docs/architecture.md, "Tests").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV_VAR = "NORE_SHARED_DATA"
SHARED_DATA = Path(os.environ.get(ENV_VAR) or REPO.parent / "shared" / "data")
BINANCE_DIR = SHARED_DATA / "binance"
TRADES_DIR = BINANCE_DIR / "trades"
AGG_TRADES_DIR = BINANCE_DIR / "aggTrades"
KLINES_DIR = BINANCE_DIR / "klines_usdm_futures_1m"
WS_DIR = BINANCE_DIR / "ws"

# The files the suite reads by name (other tests glob the folders above).
BTC_TRADES = TRADES_DIR / "BTCUSDT-trades-20240808T2354Z-20240809T0005Z.csv"
ETH_TRADES = TRADES_DIR / "ETHUSDT-trades-20240808T2354Z-20240809T0005Z.csv"
XRP_AGG_11 = AGG_TRADES_DIR / "XRPETH-aggTrades-2019-10-11.csv"
XRP_AGG_12 = AGG_TRADES_DIR / "XRPETH-aggTrades-2019-10-12.csv"
ALGO_KLINES = KLINES_DIR / "ALGOUSDT-1m-2026-02.csv.gz"
NAMED_FILES = (BTC_TRADES, ETH_TRADES, XRP_AGG_11, XRP_AGG_12, ALGO_KLINES)


def missing_message(path: Path) -> str:
    """The failure text for a recording that is not there: the path and how to point the tests elsewhere."""
    return (
        f"shared Binance data not found: {path} is missing. The tests read the recordings from "
        f"${ENV_VAR} (now {os.environ.get(ENV_VAR) or 'unset'}), default ../shared/data next to the "
        f"repository ({REPO.parent / 'shared' / 'data'}); set {ENV_VAR} to the folder that holds binance/"
    )


def require(*paths: Path) -> None:
    """Fail the calling test (not skip it) when any of `paths` (default: the binance folder) is missing."""
    for path in paths or (BINANCE_DIR,):
        if not path.exists():
            pytest.fail(missing_message(path), pytrace=False)


def require_glob(folder: Path, pattern: str) -> list[Path]:
    """The sorted files of `folder` matching `pattern`; fails the test when there are none."""
    found = sorted(folder.glob(pattern))
    if not found:
        pytest.fail(missing_message(folder / pattern), pytrace=False)
    return found
