"""Static and runtime checks behind the ai_isolation_gate (R-Q3, R-I1).

- `forbidden_imports()`: walks every module of `minibot.ai` with `ast` (relative imports resolved) and
  lists imports of trading or network code: `minibot.execution`, `minibot.model`, `minibot.market`,
  `minibot.sim`, `minibot.roles`, `minibot.strategies`, `minibot.risk`, Binance clients, sockets and HTTP
  (the same as pyproject's `ai-isolation` import contract, which CI checks with import-linter; this walk
  runs in `nore gates`, where import-linter, a development tool, is not installed).
- `order_type_mentions()`: lists every string constant in `minibot.ai` that names an `order_*` event
  type, the only way the AI could produce one.
- `child_probe(env)`: starts a Python child with `env` (the scrubbed environment), imports every
  `minibot.ai` module there and reports the variables the child started with and any trading package or
  network client that got loaded transitively.
- `contract_problems(contracts)`: contracts.v1.json lets ai_role produce only recommendations, health
  and STOP, and read only `ai_readable_queues`, none of which carries an `order_*` type.
`ai_isolation_gate` runs them all. The queue layer's runtime refusal of a producer that is not allowed
on a queue is tested with the journal.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from minibot.ai.env import env_problems, scrubbed_env
from minibot.rolenames import Role

AI_PACKAGE_DIR = Path(__file__).resolve().parent
TRADING_PACKAGES = (
    "minibot.execution",
    "minibot.model",
    "minibot.market",
    "minibot.sim",
    "minibot.roles",
    "minibot.strategies",
    "minibot.risk",
)
NETWORK_CLIENTS = ("binance", "ccxt", "aiohttp", "websockets", "requests", "httpx")
# The AI's own code must not open sockets either; the process's libraries (psutil) import `socket` themselves,
# so these are checked in the AI's sources only, not among the modules loaded at runtime.
STDLIB_NETWORK = ("socket", "http.client", "urllib.request")
FORBIDDEN_PREFIXES = TRADING_PACKAGES + NETWORK_CLIENTS + STDLIB_NETWORK
RUNTIME_FORBIDDEN = TRADING_PACKAGES + NETWORK_CLIENTS
ORDER_TYPE_RE = re.compile(r"^order_[a-z_]*$")
# The AI writes recommendations, its own health and, fail-closed, a STOP; nothing else.
AI_PRODUCED_TYPES = frozenset({"ai_recommendation", "health", "stop_journal"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One isolation problem, located in a source file."""

    path: str
    line: int
    what: str


def ai_modules(package_dir: Path = AI_PACKAGE_DIR) -> dict[str, Path]:
    """Dotted module name -> file for every module of `minibot.ai`."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = ("minibot", "ai", *path.relative_to(package_dir).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported_names(module: str, path: Path, tree: ast.AST) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `tree`; relative imports resolved."""
    is_package = path.name == "__init__.py"
    base = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                target = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from minibot import execution` imports a submodule through its name.
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def _is_forbidden(name: str, prefixes: tuple[str, ...] = FORBIDDEN_PREFIXES) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def forbidden_imports(package_dir: Path = AI_PACKAGE_DIR) -> list[Finding]:
    """Every import of a forbidden module from `minibot.ai`."""
    findings = []
    for module, path in ai_modules(package_dir).items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, name in imported_names(module, path, tree):
            if _is_forbidden(name):
                findings.append(Finding(str(path), line, f"imports {name}"))
    return findings


def order_type_mentions(package_dir: Path = AI_PACKAGE_DIR) -> list[Finding]:
    """Every string constant in `minibot.ai` that is an `order_*` event type name."""
    findings = []
    for path in ai_modules(package_dir).values():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant):
                continue
            value = node.value
            if isinstance(value, str) and ORDER_TYPE_RE.match(value):
                findings.append(Finding(str(path), node.lineno, f"mentions event type {value!r}"))
    return findings


_PROBE = """
import importlib, json, os, sys
env = sorted(os.environ)  # before any import: libraries may set variables of their own
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
print(json.dumps({"env": env, "modules": sorted(sys.modules)}))
"""


def child_probe(env: dict[str, str], timeout_s: float = 60.0) -> dict[str, list[str]]:
    """Import all of `minibot.ai` in a child started with `env`; its variable names and forbidden modules."""
    names = sorted(ai_modules())
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(names)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    loaded = [m for m in report["modules"] if _is_forbidden(m, RUNTIME_FORBIDDEN)]
    return {"env": report["env"], "forbidden_modules": loaded}


def loaded_forbidden_modules(modules: Iterable[str], allowed: tuple[str, ...] = ("minibot.roles",)) -> list[str]:
    """Trading or network-client modules among `modules` (a process's `sys.modules`).

    ai_role checks its own process at start: it lives in `minibot.roles` (allowed here), but nothing it
    loads may bring in execution, market, strategy, risk, simulator or Binance/HTTP client code.
    """
    prefixes = tuple(p for p in RUNTIME_FORBIDDEN if p not in allowed)
    return sorted(m for m in modules if _is_forbidden(m, prefixes))


def contract_problems(contracts: Mapping[str, Any]) -> list[str]:
    """What in contracts.v1.json would let the AI read or write more than it may (R-I1, R-Q3)."""
    problems = []
    queues = contracts["queues"]
    for name, spec in sorted(queues.items()):
        if Role.AI.value in spec["producers"]:
            extra = [t for t in spec["types"] if t not in AI_PRODUCED_TYPES]
            if extra:
                problems.append(f"queue {name}: ai_role may produce {extra}")
        if Role.AI.value in spec["consumers"] and name not in contracts["ai_readable_queues"]:
            problems.append(f"queue {name}: ai_role consumes it but it is not in ai_readable_queues")
    for name in contracts["ai_readable_queues"]:
        spec = queues.get(name)
        if spec is None or Role.AI.value not in spec["consumers"]:
            problems.append(f"ai_readable_queues lists {name}, which ai_role does not consume")
        elif any(ORDER_TYPE_RE.match(t) for t in spec["types"]):
            problems.append(f"ai_readable_queues lists {name}, which carries order intents/results")
    return problems


@dataclass(frozen=True, slots=True)
class GateResult:
    """One row of `nore gates`."""

    name: str
    passed: bool
    checks: dict[str, list[str]]


def ai_isolation_gate(parent_env: Mapping[str, str], secrets_path: str | None = None) -> GateResult:
    """ai_isolation_gate (R-Q3): every check lists its problems; PASS only when all lists are empty.

    Canary secrets are planted in a copy of `parent_env` before scrubbing, so the environment check
    proves they are dropped even on a machine that has none set.
    """
    canaries = {"BINANCE_API_KEY": "canary", "BINANCE_API_SECRET": "canary", "NORE_SECRETS_PATH": "canary"}
    forbidden_values = [secrets_path] if secrets_path else []
    env = scrubbed_env({**parent_env, **canaries}, forbidden_values=forbidden_values)
    probe = child_probe(env)
    child_env = {name: env[name] for name in probe["env"] if name in env}
    contracts = json.loads(resources.files("minibot.config").joinpath("contracts.v1.json").read_text("utf-8"))
    checks = {
        "env_scrubbed": env_problems(child_env, forbidden_values)
        + [f"{n}: not set by the scrubbed environment" for n in probe["env"] if n not in env]
        + [f"{n}: canary secret reached the child" for n in canaries if n in probe["env"]],
        "no_forbidden_imports": [f"{f.path}:{f.line}: {f.what}" for f in forbidden_imports()]
        + [f"loaded at runtime: {m}" for m in probe["forbidden_modules"]],
        "no_order_types": [f"{f.path}:{f.line}: {f.what}" for f in order_type_mentions()],
        "queue_contract": contract_problems(contracts),
    }
    return GateResult("ai_isolation_gate", not any(checks.values()), checks)
