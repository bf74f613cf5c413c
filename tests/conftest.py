"""Suite-wide: the shared real Binance recordings (tests/shared_data.py decides where they are) and the
check that every test starting a process or server is marked `process` (tests/process_marker.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import BINANCE_DIR, NAMED_FILES, require

pytest_plugins = ["tests.process_marker", "pytester"]


@pytest.fixture(scope="session")
def binance_data() -> Path:
    """The shared `binance/` recordings folder; the test fails (never skips) when it or a file the suite
    reads by name is missing."""
    require(BINANCE_DIR, *NAMED_FILES)
    return BINANCE_DIR
