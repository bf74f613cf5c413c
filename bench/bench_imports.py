"""What each heavy import costs a NORE process: RSS and import time, each in a fresh interpreter.

For every library (numpy, scikit-learn, aiohttp, orjson, jsonschema, ...) and every process entry module
(the roles, the simulator, the supervisor), a new `python -c` imports psutil (the measuring tool), reads
its RSS, imports the module, and reads RSS and the elapsed time again. The figures are the process's own
(USS would be lower: shared library pages count in RSS). `python -X importtime -c "import <module>"` gives
the per-module breakdown behind a figure.

Usage: .venv/bin/python bench/bench_imports.py
"""

from __future__ import annotations

import json
import subprocess
import sys

import psutil

# scipy.stats: most of scikit-learn's cost (sklearn.base imports it through sklearn.utils.fixes).
LIBRARIES = [
    "orjson", "jsonschema", "aiohttp", "psutil", "typer", "rich", "filelock",
    "numpy", "scipy.stats", "sklearn", "sklearn.linear_model", "sklearn.ensemble",
]  # fmt: skip
PROCESSES = [
    "minibot.roles.market_role", "minibot.roles.health_role", "minibot.roles.strategy_role",
    "minibot.roles.risk_role", "minibot.roles.execution_role", "minibot.roles.ai_role",
    "minibot.sim.app", "minibot.watchdog.supervisor",
]  # fmt: skip

_PROBE = """
import json, sys, time, psutil
proc = psutil.Process()
before = proc.memory_info().rss
t0 = time.perf_counter()
import importlib
importlib.import_module(sys.argv[1])
t1 = time.perf_counter()
print(json.dumps({"before": before, "after": proc.memory_info().rss, "ms": (t1 - t0) * 1000.0}))
"""


def measure(module: str) -> dict[str, float] | None:
    """RSS before / after importing `module` in a fresh interpreter (None when it is not installed)."""
    done = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return None
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> int:
    """Print one table row per module."""
    load = psutil.getloadavg()
    print(f"machine load: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) on {psutil.cpu_count()} CPUs")
    print(f"{'module':<32}{'RSS +MB':>9}{'RSS after MB':>14}{'import ms':>11}")
    for module in [*LIBRARIES, *PROCESSES]:
        m = measure(module)
        if m is None:
            print(f"{module:<32}  not installed")
            continue
        mb = float(1 << 20)
        print(f"{module:<32}{(m['after'] - m['before']) / mb:>9.1f}{m['after'] / mb:>14.1f}{m['ms']:>11.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
