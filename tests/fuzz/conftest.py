"""Report how many fuzz cases ran (issue 13): one line per target at the end of the session."""

from __future__ import annotations

import pytest

from tests.fuzz.cases import CASES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """`fuzz cases: N (target a, target b, ...)` when any fuzz test ran."""
    if CASES:
        detail = ", ".join(f"{name} {count}" for name, count in sorted(CASES.items()))
        terminalreporter.write_line(f"fuzz cases: {sum(CASES.values())} ({detail})")
