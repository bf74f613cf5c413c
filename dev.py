#!/usr/bin/env python3
"""Set up the project's own environment (.venv) and run NORE or the checks. Needs only Python >= 3.11.

    python3 dev.py demo    # set up, run NORE against the embedded simulator (30 run-minutes at 20x), verify it
    python3 dev.py test    # set up, then lint, check the import layers, type-check (Linux, Windows) and run the tests
    python3 dev.py test --fast  # set up, then only the unit and property tests: the edit-test loop
    python3 dev.py setup   # only set up .venv
    python3 dev.py lock    # maintainers: re-resolve requirements/lock.txt after changing pyproject's dependencies

Windows (PowerShell): `py dev.py demo` / `py dev.py test` / `py dev.py test --fast`. Nothing is installed
outside .venv. Extra arguments after `test` go to pytest (`dev.py test --fast tests/risk -k limits`).

.venv gets exactly the versions in requirements/lock.txt, each checked against its sha256 (one lock for
Linux, Windows and macOS, Python 3.11 to 3.13), then this project itself without dependencies.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
LINT_IMPORTS = BIN / ("lint-imports.exe" if os.name == "nt" else "lint-imports")
STAMP = VENV / ".nore-installed"
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements" / "lock.txt"
LOCK_DIGEST_PREFIX = "# pyproject-dependencies-sha256: "
# The resolver that writes the lock, pinned so two maintainers produce the same file.
UV = "uv==0.13.9"
LOCK_COMMAND = (
    "pip compile pyproject.toml --extra dev --universal --generate-hashes --python-version 3.11 "
    "-o requirements/lock.txt"
)


def _run(*args: str | Path) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def dependency_digest(pyproject_text: str) -> str:
    """sha256 of what the lock is resolved from: requires-python, the dependencies and every extra."""
    import tomllib  # here, not at the top: on Python < 3.11 dev.py must reach its own version message

    project = tomllib.loads(pyproject_text)["project"]
    lists = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
    }
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()


def recorded_digest(lock_text: str) -> str | None:
    """The dependency digest the lock was made from (its `# pyproject-dependencies-sha256:` line)."""
    for line in lock_text.splitlines():
        if line.startswith(LOCK_DIGEST_PREFIX):
            return line[len(LOCK_DIGEST_PREFIX) :].strip()
    return None


def install_stamp(pyproject: bytes, lock: bytes) -> str:
    """What .venv was installed from: it is installed again when pyproject.toml or the lock changes."""
    return hashlib.sha256(hashlib.sha256(pyproject).digest() + hashlib.sha256(lock).digest()).hexdigest()


def setup() -> None:
    """Create .venv and install the locked dependencies, then the project; redo it when pyproject.toml or the
    lock changes."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must explain itself on an older Python
        sys.exit(f"NORE needs Python >= 3.11, this is {sys.version.split()[0]}")
    pyproject, lock = PYPROJECT.read_bytes(), LOCK.read_bytes()
    if recorded_digest(lock.decode()) != dependency_digest(pyproject.decode()):
        sys.exit(
            f"{LOCK.relative_to(ROOT)} was not made from pyproject.toml's current dependencies: "
            "run `python3 dev.py lock` (see docs/dependencies.md)"
        )
    wanted = install_stamp(pyproject, lock)
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    steps = [
        (PY, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", LOCK),
        (PY, "-m", "pip", "install", "--quiet", "--no-deps", "-e", ROOT),
    ]
    for step in steps:
        if _run(*step) != 0:
            sys.exit("setting up .venv failed (see the pip output above)")
    STAMP.write_text(wanted)


def lock() -> int:
    """Re-resolve requirements/lock.txt from pyproject.toml with a pinned uv in a throwaway venv (needs PyPI)."""
    with tempfile.TemporaryDirectory(prefix="nore-lock-") as tmp:
        tool = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True).create(tool)
        tool_py = tool / ("Scripts" if os.name == "nt" else "bin") / ("python.exe" if os.name == "nt" else "python")
        if _run(tool_py, "-m", "pip", "install", "--quiet", UV) != 0:
            return 1
        LOCK.parent.mkdir(exist_ok=True)
        if _run(tool_py, "-m", "uv", "--quiet", *LOCK_COMMAND.split()) != 0:
            return 1
    body = LOCK.read_text(encoding="utf-8")
    digest = dependency_digest(PYPROJECT.read_text(encoding="utf-8"))
    LOCK.write_text(f"{LOCK_DIGEST_PREFIX}{digest}\n{body}", encoding="utf-8")
    print(f"wrote {LOCK.relative_to(ROOT)}; `python3 dev.py setup` installs it", flush=True)
    return 0


DEMO_RUN = ("run", "--sim", "--duration", "30m", "--speed", "20", "--var", "var")


def demo(extra: list[str]) -> int:
    """Run NORE against the embedded simulator for a short, sped-up night (30 run-minutes in ~90 s),
    then verify the run. Extra arguments replace the run options, e.g. `dev.py demo run --sim --duration 2h`."""
    args = [str(PY), "-m", "minibot", *(extra or DEMO_RUN)]
    print("+", " ".join(args), flush=True)
    run_dir = ""
    with subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith("run_dir: "):
                run_dir = line.split(": ", 1)[1].strip()
    if proc.returncode != 0 or not run_dir:
        return proc.returncode or 1
    return _run(PY, "-m", "minibot", "verify", run_dir)


# Tests that start OS processes or servers are marked `process` (tests/process_marker.py fails an unmarked
# one), long end-to-end runs `slow`: leaving both out keeps the unit and property tests, which need seconds.
FAST_SELECTION = ("-m", "not process and not slow")


def test(extra: list[str]) -> int:
    """Lint, format check, import layers (pyproject's [tool.importlinter]), type-check for Linux and Windows,
    then the whole test suite; with `--fast` first in `extra`, only the unit and property tests (no lint, no
    type-check, no processes or servers)."""
    if extra[:1] == ["--fast"]:
        return _run(PY, "-m", "pytest", *FAST_SELECTION, *extra[1:])
    checks = [
        (PY, "-m", "ruff", "check", "."),
        (PY, "-m", "ruff", "format", "--check", "."),
        (LINT_IMPORTS, "--no-logo"),
        (PY, "-m", "mypy"),
        (PY, "-m", "mypy", "--platform", "win32"),
    ]
    for check in checks:
        if _run(*check) != 0:
            return 1
    return _run(PY, "-m", "pytest", *extra)


def main(argv: list[str]) -> int:
    """Entry point: `dev.py {setup,demo,test,lock} [extra args]`."""
    command = argv[0] if argv else "help"
    if command not in ("setup", "demo", "test", "lock"):
        print(__doc__)
        return 2
    if command == "lock":
        return lock()
    setup()
    if command == "setup":
        return 0
    return demo(argv[1:]) if command == "demo" else test(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
