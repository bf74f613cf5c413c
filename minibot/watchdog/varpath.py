"""Where runs go by default (`--var`), and whether that folder is synced by OneDrive.

Windows: `%LOCALAPPDATA%\\nore\\var`. A folder under Documents or the Desktop is often redirected into
OneDrive, which opens every new file to upload it; with hundreds of atomic replaces a minute that means
sharing violations and a sync backlog all night. LOCALAPPDATA is never synced. Elsewhere: `var` in the
current folder, as always.

Pure functions of the environment and the platform name, so the Windows logic is tested on Linux.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

ONEDRIVE_ENV = ("OneDrive", "OneDriveConsumer", "OneDriveCommercial")
ONEDRIVE_PREFIX = "onedrive"


def default_var(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> Path:
    """The `--var` folder when none is given: `%LOCALAPPDATA%\\nore\\var` on Windows, `./var` elsewhere."""
    env = os.environ if env is None else env
    if platform == "win32":
        local = env.get("LOCALAPPDATA")
        base = Path(local) if local else Path.home() / "AppData" / "Local"
        return base / "nore" / "var"
    return Path("var")


def _pure(path: PurePath | str, platform: str) -> PurePath:
    return PureWindowsPath(path) if platform == "win32" else PurePosixPath(path)


def _fold(part: str, platform: str) -> str:
    return part.casefold() if platform == "win32" else part


def onedrive_root(var: PurePath | str, env: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """The OneDrive folder `var` (an absolute path) lies in, or None. Found by the roots OneDrive sets in the
    environment, or a path component named like OneDrive's folders ("OneDrive", "OneDrive - Contoso")."""
    path = _pure(var, platform)
    parts = [_fold(p, platform) for p in path.parts]
    for name in ONEDRIVE_ENV:
        root = env.get(name)
        if not root:
            continue
        root_parts = [_fold(p, platform) for p in _pure(root, platform).parts]
        if parts[: len(root_parts)] == root_parts:
            return root
    for index, part in enumerate(path.parts):
        if part.casefold().startswith(ONEDRIVE_PREFIX):
            return str(type(path)(*path.parts[: index + 1]))
    return None


def onedrive_warning(var: PurePath, env: Mapping[str, str] | None = None, platform: str = sys.platform) -> str | None:
    """A one-line warning when the var folder is inside a OneDrive-synced tree, else None. A real `Path` is
    made absolute first; a pure path (tests of another platform) is taken as given."""
    env = os.environ if env is None else env
    where = var.resolve() if isinstance(var, Path) else var
    root = onedrive_root(where, env, platform)
    if root is None:
        return None
    return (
        f"the var folder {where} is inside OneDrive ({root}): syncing opens every file NORE writes and can block "
        f"its replaces all night; use a folder outside it, e.g. --var {default_var(env, platform)}"
    )
