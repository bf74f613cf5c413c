"""A hostile proxy environment: every proxy variable points at a closed loopback port, nothing is exempt."""

from __future__ import annotations

import pytest

DEAD_PROXY = "http://127.0.0.1:9"  # port 9 (discard) has no listener here: a proxied request fails at once
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def dead_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every proxy variable at `DEAD_PROXY` and remove the NO_PROXY exemptions."""
    for name in PROXY_VARS:
        monkeypatch.setenv(name, DEAD_PROXY)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
