"""The trading cores are pure: their modules import no I/O, clock, randomness or network code."""

from __future__ import annotations

import ast
from pathlib import Path

import minibot

ALLOWED_STDLIB = {"__future__", "collections", "dataclasses", "decimal", "math", "re", "typing", "itertools"}
ALLOWED_MINIBOT = (
    "minibot.reasons",
    "minibot.contracts.core",
    "minibot.config.view",  # the config views: pure dataclasses, built by a pure mapping
    "minibot.config.trading",
    "minibot.strategies",
    "minibot.risk",
    "minibot.execution",
)
PACKAGES = ("strategies", "risk", "execution")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_modules_import_only_pure_code() -> None:
    root = Path(minibot.__file__).parent
    files = [p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")]
    assert len(files) >= 10
    for path in files:
        for name in _imports(path):
            ok = name.split(".")[0] in ALLOWED_STDLIB or name.startswith(ALLOWED_MINIBOT)
            assert ok, f"{path.relative_to(root)} imports {name}"
