"""Secrets live outside the repository and never reach a log, a run file or a role's environment (R-P5).

NORE reads public market data only and needs no secret. The user's machine may still hold Binance keys
(for minibot's other modes) in an external `.env` file named by `secrets.path` in the config or by the
environment variable named in `secrets.env_var`. The supervisor loads that file only to learn which
values must never appear anywhere: they are registered with the log redactor, removed from every child's
environment, and never written into run.json. A secrets file inside the repository or the var folder is
refused: keeping it out of everything that gets copied, committed or shared is the point.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minibot.config.views import SecretsConfig
from minibot.logs import MIN_SECRET_LEN
from minibot.reasons import ConfigInvalid

# Variable names that hold secrets by convention; their values are treated as secrets even when no
# secrets file is configured (e.g. BINANCE_API_KEY exported in the shell that starts the run).
SECRET_NAME_RE = re.compile(r"KEY|SECRET|TOKEN|PASS|BINANCE|CREDENTIAL|AUTH|COOKIE|SESSION", re.IGNORECASE)
_LINE_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class Secrets:
    """What the supervisor knows about secrets: their values (to hide) and where the file was."""

    values: frozenset[str] = field(default_factory=frozenset)
    path: Path | None = None

    def child_env(self, parent: Mapping[str, str]) -> dict[str, str]:
        """`parent` without secret-named variables and without any variable holding a secret value."""
        return {
            name: value
            for name, value in parent.items()
            if not SECRET_NAME_RE.search(name) and value not in self.values
        }


def _meaningful(values: set[str]) -> set[str]:
    """Values long enough to be secrets: hiding "1" or "on" would garble logs and drop unrelated variables."""
    return {v for v in values if len(v) >= MIN_SECRET_LEN}


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def repository_root() -> Path:
    """The folder holding the `minibot` package (the project checkout or site-packages)."""
    return Path(__file__).resolve().parents[2]


def parse_env_file(text: str, where: str) -> dict[str, str]:
    """`KEY=VALUE` lines (optional `export`, quotes, `#` comments); anything else is ConfigInvalid."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE_RE.match(line)
        if match is None:
            raise ConfigInvalid(f"{where}:{number}: expected KEY=VALUE (the value is not shown)")
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[match.group(1)] = value
    return out


def decode_env_bytes(data: bytes, where: str) -> str:
    """Strict UTF-8 (a UTF-8 byte order mark is allowed); else ConfigInvalid naming the byte offset, never a value."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigInvalid(f"secrets.path: {where} is UTF-16 (byte order mark); save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigInvalid(f"secrets.path: {where}: byte {exc.start} is not UTF-8; save it as UTF-8") from None


def secrets_file(cfg: Mapping[str, Any], environ: Mapping[str, str]) -> Path | None:
    """The configured secrets file: `secrets.path`, else the file named by `$<secrets.env_var>`."""
    section = SecretsConfig.from_config(cfg)
    if section.path:
        return Path(section.path).expanduser()
    env_var = section.env_var
    if env_var and environ.get(env_var):
        return Path(environ[env_var]).expanduser()
    return None


def load_secrets(cfg: Mapping[str, Any], environ: Mapping[str, str], forbidden_dirs: list[Path]) -> Secrets:
    """Load the external secrets file (if any) plus secret-named environment values.

    `forbidden_dirs` (the var folder) and the repository may not hold the file: ConfigInvalid.
    """
    values = {value for name, value in environ.items() if SECRET_NAME_RE.search(name)}
    path = secrets_file(cfg, environ)
    if path is None:
        return Secrets(frozenset(_meaningful(values)), None)
    if "\x00" in str(path):
        raise ConfigInvalid("secrets.path: a path cannot contain a NUL character")
    for folder in [repository_root(), *forbidden_dirs]:
        if _inside(path, folder):
            raise ConfigInvalid(
                f"secrets.path: {path} lies inside {folder}; keep secrets outside the repository and the run "
                "folders (R-P5)"
            )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigInvalid(f"secrets.path: cannot read {path}: {exc.strerror}") from None
    values.update(parse_env_file(decode_env_bytes(data, str(path)), str(path)).values())
    return Secrets(frozenset(_meaningful(values)), path)
