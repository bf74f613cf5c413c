"""Where a staging area lives, and which relative paths it may hold.

Layout under a staging root (default `<target>/staging`):

    pending/manifest.json        critical JSON (own sha256): one entry per staged file
    pending/files/<rel path>     the staged copies
    applied/<timestamp>/         former pending areas, moved there after a successful apply
    backups/<timestamp>/<rel>    originals replaced under --allow-overwrite
    deploy_journal.jsonl         sha256 journal of deploy_event events (every action)
    .lock                        cross-process lock held by stage and deploy
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from minibot.reasons import DeployCode, Refusal

MANIFEST = "manifest.json"
FILES = "files"
JOURNAL = "deploy_journal.jsonl"
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
# Names Windows cannot create (a staged file must install on the user's desktop too).
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)


@dataclass(frozen=True, slots=True)
class StagingArea:
    """Paths of one staging root."""

    root: Path

    @classmethod
    def for_target(cls, target: Path, staging: Path | None = None) -> StagingArea:
        """`staging` when given, else `<target>/staging`."""
        return cls(Path(staging) if staging is not None else Path(target) / "staging")

    @property
    def pending(self) -> Path:
        """The area the next deploy installs from."""
        return self.root / "pending"

    @property
    def manifest(self) -> Path:
        """The pending manifest."""
        return self.pending / MANIFEST

    @property
    def files(self) -> Path:
        """Folder of staged copies."""
        return self.pending / FILES

    @property
    def applied(self) -> Path:
        """Folder of applied (historic) pending areas."""
        return self.root / "applied"

    @property
    def backups(self) -> Path:
        """Folder of originals kept under --allow-overwrite."""
        return self.root / "backups"

    @property
    def journal(self) -> Path:
        """The deploy journal."""
        return self.root / JOURNAL

    @property
    def lock(self) -> Path:
        """Lock file serializing stage and deploy."""
        return self.root / ".lock"

    def staged(self, rel: str) -> Path:
        """Path of the staged copy of `rel`."""
        return self.files.joinpath(*PurePosixPath(rel).parts)


class PathRefused(Refusal, ValueError):
    """A path a staging area may not hold; carries the deploy code and the offending path."""

    def __init__(self, code: DeployCode, path: str, detail: str) -> None:
        super().__init__(f"{path}: {code.value} {detail}")
        self.code = code
        self.path = path
        self.detail = detail


def check_relative(rel: str) -> str:
    """Validate a manifest path: POSIX separators, relative, no `..`/`.`/empty parts, Windows-creatable."""
    if not rel or "\\" in rel or "\0" in rel:
        raise PathRefused(DeployCode.PATH_INVALID, rel, "must be a non-empty POSIX relative path without '\\'")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or _DRIVE_RE.match(rel):
        raise PathRefused(DeployCode.PATH_ESCAPES_ROOT, rel, "is absolute")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise PathRefused(DeployCode.PATH_ESCAPES_ROOT, rel, "has an empty, '.' or '..' part")
    for part in parts:
        if part.split(".")[0].upper() in _WINDOWS_RESERVED or part.endswith((" ", ".")) or ":" in part:
            raise PathRefused(DeployCode.PATH_INVALID, rel, f"part {part!r} cannot be created on Windows")
    return rel


def relative_to_root(source: Path, root: Path) -> str:
    """`source`'s path relative to `root` (POSIX form), refusing anything that leaves `root`.

    Lexical check first (`..`, other drive), then the real path: a symlink (file or folder) leading out
    of `root` is refused, so the staged bytes are always bytes that live inside the project.
    """
    abs_root = Path(os.path.abspath(root))
    abs_src = Path(os.path.abspath(source))
    try:
        rel = abs_src.relative_to(abs_root)
    except ValueError:
        raise PathRefused(DeployCode.PATH_ESCAPES_ROOT, str(source), f"is outside the root {abs_root}") from None
    real_root = abs_root.resolve()
    real_src = abs_src.resolve()
    if not real_src.is_relative_to(real_root):
        raise PathRefused(
            DeployCode.PATH_ESCAPES_ROOT, str(source), f"resolves through a symlink to {real_src}, outside {real_root}"
        )
    return check_relative(rel.as_posix())


def destination(target: Path, rel: str) -> Path:
    """Where `rel` installs under `target`; refused if a symlinked folder in the target leads out of it."""
    dest = Path(target).joinpath(*PurePosixPath(check_relative(rel)).parts)
    real_target = Path(target).resolve()
    if not dest.parent.resolve().is_relative_to(real_target) or (
        dest.is_symlink() and not dest.resolve().is_relative_to(real_target)
    ):
        raise PathRefused(DeployCode.TARGET_ESCAPES, rel, f"installs through a symlink out of {real_target}")
    return dest
