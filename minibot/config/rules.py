"""Config rules JSON Schema cannot express: finite numbers, a bounded depth, and paths that stay in the run.

JSON Schema's `number` admits NaN and infinity (Python's json module parses `NaN`, `Infinity` and `1e400`
into them), and a folder key given as `../x` or `C:\\x` would make a run write into another run's folder.
Every rule here raises `ConfigInvalid` naming the key path, so `nore run` refuses with exit 2.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from minibot.reasons import ConfigInvalid
from minibot.runlayout import CONTROL_DIR, RUN_FILE, STOP_FLAG, WATCHDOG_DIR

MAX_DEPTH = 32  # the shipped config nests 4 levels; anything near this is not a config
# Folder keys resolved under the run folder (R-F1); each must stay inside it.
RUN_PATH_KEYS: tuple[tuple[str, str], ...] = (("queues", "base_dir"), ("logging", "dir"), ("ai", "dir"))
# One path component that means the same folder on Windows and Linux: no `..`, no drive, no separator
# tricks, no name Windows refuses or silently rewrites (trailing dot, device names).
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))]
)
# Files and folders the run itself keeps at its top level: a configured folder may not take their place.
RESERVED_TOP = frozenset([RUN_FILE, STOP_FLAG, CONTROL_DIR, WATCHDOG_DIR])


def _key(path: list[str]) -> str:
    return ".".join(path) or "<root>"


def check_structure(doc: Any, where: str) -> None:
    """Refuse a non-finite number anywhere, and nesting deeper than MAX_DEPTH (iterative: no recursion)."""
    stack: list[tuple[Any, list[str]]] = [(doc, [])]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise ConfigInvalid(f"{where}: {_key(path[:MAX_DEPTH])}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigInvalid(f"{where}: {_key(path)}: {value} is not a finite number")
        if isinstance(value, Mapping):
            stack.extend((v, [*path, str(k)]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, [*path, str(i)]) for i, v in enumerate(value))


def relative_parts(text: str, key: str) -> list[str]:
    """The components of a run-relative folder (either separator); ConfigInvalid unless it stays inside."""
    parts = re.split(r"[\\/]", text)
    for part in parts:
        if not _COMPONENT_RE.match(part) or part.endswith(".") or part.split(".")[0].upper() in _WINDOWS_DEVICES:
            raise ConfigInvalid(
                f"{key}: {text!r} is not a folder inside the run folder (expected a relative path of names "
                "made of letters, digits, '_', '-', '.'; no absolute path, drive, '..' or empty part)"
            )
    if parts[0] in RESERVED_TOP:
        raise ConfigInvalid(f"{key}: {text!r} would replace the run's own {parts[0]!r}")
    return parts


def check_run_paths(doc: Mapping[str, Any], where: str) -> None:
    """Every folder key is a plain relative path inside the run folder (checked without touching disk)."""
    for section, name in RUN_PATH_KEYS:
        value = doc.get(section, {}).get(name) if isinstance(doc.get(section), Mapping) else None
        if isinstance(value, str):
            relative_parts(value, f"{where}: {section}.{name}")


def resolve_in_run(run_dir: Path, cfg: Mapping[str, Any]) -> dict[str, Path]:
    """Each folder key resolved under `run_dir`; ConfigInvalid if a symlink leads it outside the run."""
    root = Path(run_dir).resolve()
    out: dict[str, Path] = {}
    for section, name in RUN_PATH_KEYS:
        key = f"{section}.{name}"
        target = root.joinpath(*relative_parts(str(cfg[section][name]), key)).resolve()
        if not target.is_relative_to(root) or target == root:
            raise ConfigInvalid(f"{key}: {cfg[section][name]!r} resolves to {target}, outside the run folder {root}")
        out[key] = target
    return out
