"""The scrubbed environment ai_role is started with (R-I1, R-P5, R-Q3).

An allow-list, not a deny-list: only the variables an interpreter needs to start and find its temp folder
and locale survive, plus the non-secret `NORE_AI_VARS` the runner hands over. On top of that, any name
matching `SECRET_NAME_RE` is dropped even if allow-listed, and any value that mentions a forbidden path
(the secrets path) is dropped too. Windows treats variable names case-insensitively, so matching does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from minibot.config.views import SecretsConfig
from minibot.journal.atomic import read_critical_json
from minibot.memtrace import DIR_ENV, INTERVAL_ENV
from minibot.rolenames import Role
from minibot.runlayout import RUN_FILE

# What a Python child needs: PATH/SYSTEMROOT/WINDIR to start on Windows (SYSTEMROOT is required by the
# CRT and the random module), a temp folder, a home folder, locale, import path and hash seed, and the
# allocator setting every role runs with (minibot/watchdog/launch.py: MALLOC_ENV).
BASE_ALLOWED = frozenset(
    {
        "PATH",
        "SYSTEMROOT",
        "WINDIR",
        "TEMP",
        "TMP",
        "TMPDIR",
        "HOME",
        "USERPROFILE",
        "LANG",
        "LC_ALL",
        "PYTHONPATH",
        "PYTHONHASHSEED",
        "MALLOC_MMAP_THRESHOLD_",
    }
)
# Non-secret settings the ai_role runner may pass (run identity and where to write), nothing else; and the
# memory benchmark's opt-in tracing (a report folder and an interval), so ai_role's growth is traced too.
NORE_AI_VARS = frozenset(
    {"NORE_ROLE", "NORE_RUN_DIR", "NORE_AI_DIR", "NORE_RUN_ID", "NORE_CMDLINE_HASH", DIR_ENV, INTERVAL_ENV}
)
# numpy's BLAS (OpenBLAS in the wheels; MKL or OpenMP builds read the other two) on one thread: the trainer's
# matrices are a few thousand rows by a few dozen features, which gain nothing from threads (30 Newton steps
# on 5,760 x 24: ~25 ms on one thread or two), while by default OpenBLAS starts a worker per core, which
# spins for a while after each call: on every core of the trader's desktop, beside the trading roles.
NUMERIC_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ALLOWED = BASE_ALLOWED | NORE_AI_VARS | frozenset(NUMERIC_THREADS)
SECRET_NAME_RE = re.compile(r"KEY|SECRET|TOKEN|PASS|BINANCE|CREDENTIAL|AUTH|COOKIE|SESSION", re.IGNORECASE)


def scrubbed_env(
    parent: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
    forbidden_values: Iterable[str] = (),
) -> dict[str, str]:
    """The allow-listed subset of `parent` plus `extra` (which must itself pass the allow-list)."""
    blocked = [v for v in forbidden_values if v]
    merged = {**parent, **(extra or {})}
    return {name: value for name, value in merged.items() if _problem(name, value, blocked) is None}


def env_problems(env: Mapping[str, str], forbidden_values: Iterable[str] = ()) -> list[str]:
    """Why `env` is not a scrubbed AI environment; empty when it is (used by the ai_isolation_gate)."""
    blocked = [v for v in forbidden_values if v]
    found = ((name, _problem(name, value, blocked)) for name, value in sorted(env.items()))
    return [f"{name}: {why}" for name, why in found if why]


def _problem(name: str, value: str, blocked: list[str]) -> str | None:
    if name.upper() not in ALLOWED:
        return "not on the allow-list"
    if SECRET_NAME_RE.search(name):
        return "name looks like a secret"
    if any(b.lower() in value.lower() for b in blocked):
        return "value mentions a forbidden path"
    return None


def ai_role_environment(
    parent_env: Mapping[str, str], run_dir: Path | str, secrets_paths: Iterable[str | Path] = ()
) -> dict[str, str]:
    """The environment the supervisor starts ai_role with: `parent_env` scrubbed, plus the run's identity and
    `NUMERIC_THREADS` (which win over the parent's).

    Reads `<run_dir>/run.json` (written by the supervisor before any role starts) for the run id, command
    line hash, the AI folder and the secrets file location: the configured `secrets.path`, the file named by
    the `secrets.env_var` variable and any `secrets_paths` the caller resolved otherwise are forbidden
    values, so no surviving variable even mentions them.
    """
    run_dir = Path(run_dir)
    run = read_critical_json(run_dir / RUN_FILE)
    config = run["config"]
    secrets = SecretsConfig.from_config(config)
    paths = [secrets.path, parent_env.get(str(secrets.env_var)), *secrets_paths]
    forbidden = [str(p) for p in paths if p] + [str(Path(p).resolve()) for p in paths if p]
    extra = {
        **NUMERIC_THREADS,
        "NORE_ROLE": Role.AI.value,
        "NORE_RUN_DIR": str(run_dir),
        "NORE_AI_DIR": str(run_dir / str(config["ai"]["dir"])),
        "NORE_RUN_ID": str(run["run_id"]),
        "NORE_CMDLINE_HASH": str(run["cmdline_hash"]),
    }
    return scrubbed_env(parent_env, extra, forbidden_values=forbidden)
