"""requirements/lock.txt agrees with pyproject.toml: made from its current dependency lists, and every
dependency of the project and its dev extra pinned (with hashes) at a version its specifier allows."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def load_dev() -> ModuleType:
    """dev.py (a script at the repository root, not part of the package)."""
    spec = importlib.util.spec_from_file_location("nore_dev", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins(lock_text: str) -> dict[str, list[tuple[Version, int]]]:
    """name -> [(pinned version, number of hashes)] (several when markers fork, e.g. by Python version)."""
    found: dict[str, list[tuple[Version, int]]] = {}
    entry: list[tuple[Version, int]] | None = None
    for line in lock_text.splitlines():
        match = _PIN.match(line)
        if match:
            entry = found.setdefault(canonicalize_name(match.group(1)), [])
            entry.append((Version(match.group(2)), 0))
        elif line.strip().startswith("--hash=sha256:") and entry:
            version, hashes = entry[-1]
            entry[-1] = (version, hashes + 1)
    return found


def lock_problems(pyproject_text: str, lock_text: str) -> list[str]:
    """Every way the lock disagrees with pyproject.toml (empty when they agree)."""
    dev = load_dev()
    problems = []
    if dev.recorded_digest(lock_text) != dev.dependency_digest(pyproject_text):
        problems.append("the lock was not made from pyproject.toml's current dependency lists")
    project = tomllib.loads(pyproject_text)["project"]
    pinned = pins(lock_text)
    for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        req = Requirement(text)
        versions = pinned.get(canonicalize_name(req.name))
        if not versions:
            problems.append(f"{req.name}: not in the lock")
            continue
        for version, _hashes in versions:
            if version not in req.specifier:
                problems.append(f"{req.name}: locked {version} does not satisfy {req.specifier}")
    problems += [f"{name}=={v}: no hash" for name, entries in pinned.items() for v, n in entries if n == 0]
    return problems


def test_the_lock_agrees_with_pyproject() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    lock = (ROOT / "requirements" / "lock.txt").read_text(encoding="utf-8")
    assert lock_problems(pyproject, lock) == [], "run `python3 dev.py lock` (docs/dependencies.md)"
    # one lock for Linux and Windows: platform-only packages of both are in it
    assert "sys_platform == 'win32'" in lock and "sys_platform != 'win32'" in lock


def test_a_real_mismatch_is_found() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    lock = (ROOT / "requirements" / "lock.txt").read_text(encoding="utf-8")
    raised = pyproject.replace('"aiohttp>=3.10"', '"aiohttp>=99.0"')
    assert raised != pyproject
    problems = lock_problems(raised, lock)
    assert problems[0] == "the lock was not made from pyproject.toml's current dependency lists"
    assert [p for p in problems[1:] if not p.startswith("aiohttp: locked ")] == [] and len(problems) == 2
    added = pyproject.replace('"numpy>=1.26",', '"numpy>=1.26",\n    "left-pad>=1.0",')
    assert "left-pad: not in the lock" in lock_problems(added, lock)
    # a lock edited by hand without its hashes
    unhashed = "\n".join(line for line in lock.splitlines() if "--hash=" not in line)
    assert any(p.endswith(": no hash") for p in lock_problems(pyproject, unhashed))
    # the recorded digest is what ties the lock to pyproject: without it the lock is stale
    undated = "\n".join(line for line in lock.splitlines() if not line.startswith("# pyproject-dependencies"))
    assert lock_problems(pyproject, undated) == ["the lock was not made from pyproject.toml's current dependency lists"]


def test_the_install_stamp_changes_with_the_lock_or_pyproject() -> None:
    dev = load_dev()
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    lock = (ROOT / "requirements" / "lock.txt").read_bytes()
    stamp = dev.install_stamp(pyproject, lock)
    assert dev.install_stamp(pyproject, lock) == stamp
    assert dev.install_stamp(pyproject, lock.replace(b"aiohttp==", b"aiohttp===")) != stamp
    assert dev.install_stamp(pyproject + b"\n", lock) != stamp
