"""The shipped `binance` section, for tools and tests that start from it (its typed view is
`minibot.config.binance.BinanceConfig`)."""

from __future__ import annotations

import json
from typing import Any

from minibot.config.loader import default_config_path


def default_section() -> dict[str, Any]:
    """The shipped `binance` section (of minibot/config/nore.v1.json)."""
    section: dict[str, Any] = json.loads(default_config_path().read_text(encoding="utf-8"))["binance"]
    return section
