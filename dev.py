#!/usr/bin/env python3
"""Set up the project's own environment (.venv) and run NORE or the checks. Needs only Python >= 3.11.

    python3 dev.py demo    # set up, run NORE against the embedded simulator (30 run-minutes at 20x), verify it
    python3 dev.py test    # set up, then lint, type-check (Linux and Windows targets) and run the tests
    python3 dev.py setup   # only set up .venv

Windows (PowerShell): `py dev.py demo` / `py dev.py test`. Nothing is installed outside .venv.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".nore-installed"


def _run(*args: str | Path) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def setup() -> None:
    """Create .venv and install the project with its dev extras; redo it when pyproject.toml changes."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must explain itself on an older Python
        sys.exit(f"NORE needs Python >= 3.11, this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    steps = [
        (PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip"),
        (PY, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]"),
    ]
    for step in steps:
        if _run(*step) != 0:
            sys.exit("setting up .venv failed (see the pip output above)")
    STAMP.write_text(wanted)


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


def test(extra: list[str]) -> int:
    """Lint, format check, type-check for Linux and Windows, then the whole test suite."""
    checks = [
        (PY, "-m", "ruff", "check", "."),
        (PY, "-m", "ruff", "format", "--check", "."),
        (PY, "-m", "mypy"),
        (PY, "-m", "mypy", "--platform", "win32"),
    ]
    for check in checks:
        if _run(*check) != 0:
            return 1
    return _run(PY, "-m", "pytest", *extra)


def main(argv: list[str]) -> int:
    """Entry point: `dev.py {setup,demo,test} [extra args]`."""
    command = argv[0] if argv else "help"
    if command not in ("setup", "demo", "test"):
        print(__doc__)
        return 2
    setup()
    if command == "setup":
        return 0
    return demo(argv[1:]) if command == "demo" else test(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
