"""The import contracts of pyproject.toml ([tool.importlinter], docs/architecture.md) hold on this tree, and
`lint-imports` really fails, naming the contract, when an import breaks one: each case plants one bad import
in a copy of the package and runs the linter on that copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minibot.ai.isolation import TRADING_PACKAGES

pytestmark = pytest.mark.process  # every test here runs lint-imports in a subprocess

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / ("lint-imports.exe" if os.name == "nt" else "lint-imports")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the package under `root` (it must win over the installed one: PYTHONPATH)."""
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *selected, str(root / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def contract(contract_id: str) -> dict[str, Any]:
    """One contract of pyproject.toml by its id."""
    return next(c for c in CONTRACTS if c["id"] == contract_id)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package and its pyproject.toml, for planting bad imports."""
    root = tmp_path_factory.mktemp("lint")
    shutil.copytree(ROOT / "minibot", root / "minibot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.fixture
def plant(tree: Path) -> Iterator[Path]:
    """The copy; every file a test changes or adds under it is put back afterwards."""
    before = {p: p.read_bytes() for p in (tree / "minibot").rglob("*.py")}
    yield tree
    for path in (tree / "minibot").rglob("*.py"):
        if path not in before:
            path.unlink()
        elif path.read_bytes() != before[path]:
            path.write_bytes(before[path])


def test_this_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract_id", "forbidden"),
    [
        # The directions docs/architecture.md names: contracts at the bottom, roles and metrics below the
        # watchdog, NORE code never imports the simulator; the cores pure and apart; the simulator standalone.
        ("contracts/envelope.py", "import minibot.journal.atomic", "layers", "minibot.journal"),
        ("roles/process.py", "import minibot.watchdog.procs", "layers", "minibot.watchdog"),
        ("metrics/collector.py", "import minibot.watchdog.restarts", "layers", "minibot.watchdog"),
        ("backtest/recordings.py", "import minibot.sim.app", "layers", "minibot.sim"),
        ("risk/limits.py", "import minibot.execution.core", "independent-cores", "minibot.execution"),
        ("model/portfolio.py", "import pathlib", "pure-cores", "pathlib"),
        ("strategies/indicators.py", "import time", "pure-cores", "time"),
        ("sim/app.py", "import minibot.journal.atomic", "standalone-sim", "minibot.journal"),
    ],
)
def test_a_planted_import_breaks_its_contract(
    plant: Path, module: str, bad_import: str, contract_id: str, forbidden: str
) -> None:
    with (plant / "minibot" / module).open("a", encoding="utf-8") as f:
        f.write(f"\n{bad_import}  # noqa\n")
    result = lint_imports(plant, contract_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract(contract_id)['name']} BROKEN" in " ".join(result.stdout.split())
    assert f"minibot.{module.split('/')[0]} is not allowed to import {forbidden}" in result.stdout


def test_a_new_package_must_be_placed_in_a_layer(plant: Path) -> None:
    (plant / "minibot" / "newpkg.py").write_text('"""Not placed in any layer yet."""\n', encoding="utf-8")
    result = lint_imports(plant, "layers")
    assert result.returncode == 1 and "minibot.newpkg" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("bad_import", "forbidden"),
    [(f"import {package}", package) for package in TRADING_PACKAGES]
    + [("import socket", "socket"), ("import aiohttp", "aiohttp")],
)
def test_ai_isolation_refuses_every_trading_package_and_network_client(
    plant: Path, bad_import: str, forbidden: str
) -> None:
    """R-Q3. The contract forbids at least what the runtime gate (minibot/ai/isolation.py) forbids, and a
    real import of each from an AI module breaks it: the check cannot pass by matching nothing."""
    assert set(TRADING_PACKAGES) <= set(contract("ai-isolation")["forbidden_modules"])
    with (plant / "minibot" / "ai" / "features.py").open("a", encoding="utf-8") as f:
        f.write(f"\n{bad_import}  # noqa\n")
    result = lint_imports(plant, "ai-isolation")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"minibot.ai is not allowed to import {forbidden}" in result.stdout
