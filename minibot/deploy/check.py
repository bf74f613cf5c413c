"""`nore deploy --check`: the staging area against its manifest, and the manifest against the target.

Every problem names the exact file: a staged copy whose sha256 or size differs from the manifest
(FILE_TAMPERED), a listed file that is gone (FILE_MISSING), a file in `files/` the manifest does not list
(FILE_UNLISTED), a damaged manifest (MANIFEST_DAMAGED: its own sha256 does not match, i.e. a non-atomic or
foreign write), an existing different file in the target (TARGET_EXISTS, unless --allow-overwrite).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from minibot.deploy.manifest import Entry, Manifest, ManifestError, read_manifest
from minibot.deploy.paths import PathRefused, StagingArea, destination
from minibot.reasons import DeployCode

NEW = "NEW"
UNCHANGED = "UNCHANGED"
OVERWRITE = "OVERWRITE"
_NO_HASH = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the staging area cannot be installed; `sha256` is the hash the refusal concerns."""

    code: DeployCode
    path: str
    detail: str
    sha256: str = _NO_HASH

    def __str__(self) -> str:
        return f"{self.path}: {self.code.value} {self.detail}"


@dataclass(frozen=True, slots=True)
class Plan:
    """What installing one entry will do: NEW, UNCHANGED (identical file already there) or OVERWRITE."""

    entry: Entry
    dest: Path
    status: str


@dataclass
class CheckResult:
    """The outcome of a check: the plans when everything is in order, else the problems."""

    manifest: Manifest | None = None
    plans: list[Plan] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the area can be installed."""
        return self.manifest is not None and not self.problems


def sha256_file(path: Path) -> str:
    """Lowercase hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_staged(area: StagingArea, entry: Entry) -> Problem | None:
    staged = area.staged(entry.path)
    if staged.is_symlink() or (staged.exists() and not staged.is_file()):
        return Problem(DeployCode.FILE_TAMPERED, str(staged), "is not a regular file", entry.sha256)
    if not staged.exists():
        return Problem(
            DeployCode.FILE_MISSING, str(staged), f"is listed in {area.manifest.name} but missing", entry.sha256
        )
    data = staged.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256 or len(data) != entry.size:
        return Problem(
            DeployCode.FILE_TAMPERED,
            str(staged),
            f"sha256 {actual} ({len(data)} bytes) does not match the manifest's {entry.sha256} ({entry.size} bytes)",
            actual,
        )
    return None


def _unlisted(area: StagingArea, manifest: Manifest) -> list[Problem]:
    listed = {area.staged(e.path) for e in manifest.files}
    found: list[Problem] = []
    for folder, dirs, names in os.walk(area.files):
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if Path(folder, d).is_symlink()]:
            path = Path(folder, name)
            if path not in listed:
                digest = sha256_file(path) if path.is_file() else _NO_HASH
                found.append(Problem(DeployCode.FILE_UNLISTED, str(path), f"is not listed in {area.manifest}", digest))
    return found


def _plan(area: StagingArea, target: Path, entry: Entry, allow_overwrite: bool) -> Plan | Problem:
    try:
        dest = destination(target, entry.path)
    except PathRefused as exc:
        return Problem(exc.code, entry.path, exc.detail, entry.sha256)
    if Path(os.path.abspath(dest)).is_relative_to(os.path.abspath(area.root)):
        return Problem(DeployCode.PATH_INVALID, entry.path, f"would install into the staging area {area.root}")
    parent = dest.parent
    while parent != target and not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return Problem(
            DeployCode.TARGET_NOT_FILE, str(parent), f"is a file where {entry.path} needs a folder", entry.sha256
        )
    if not dest.exists() and not dest.is_symlink():
        return Plan(entry, dest, NEW)
    if dest.is_symlink() or not dest.is_file():
        return Problem(DeployCode.TARGET_NOT_FILE, str(dest), "exists and is not a regular file", entry.sha256)
    current = sha256_file(dest)
    if current == entry.sha256:
        return Plan(entry, dest, UNCHANGED)
    if allow_overwrite:
        return Plan(entry, dest, OVERWRITE)
    return Problem(
        DeployCode.TARGET_EXISTS,
        str(dest),
        f"exists with sha256 {current} (staged {entry.sha256}); refusing to overwrite without --allow-overwrite",
        current,
    )


def check(area: StagingArea, target: Path, *, allow_overwrite: bool = False) -> CheckResult:
    """Full check of the pending area and the target; never modifies anything."""
    result = CheckResult()
    if not Path(target).is_dir():
        result.problems.append(Problem(DeployCode.TARGET_MISSING, str(target), "is not an existing folder"))
        return result
    try:
        manifest = read_manifest(area.manifest)
    except ManifestError as exc:
        digest = sha256_file(exc.path) if exc.path.is_file() else _NO_HASH
        result.problems.append(Problem(exc.code, str(exc.path), exc.detail, digest))
        return result
    result.manifest = manifest
    if not manifest.files:
        result.problems.append(Problem(DeployCode.NOTHING_STAGED, str(area.manifest), "lists no files"))
    for entry in manifest.files:
        problem = _check_staged(area, entry)
        if problem is not None:
            result.problems.append(problem)
    result.problems.extend(_unlisted(area, manifest))
    for entry in manifest.files:
        planned = _plan(area, Path(target), entry, allow_overwrite)
        if isinstance(planned, Problem):
            result.problems.append(planned)
        else:
            result.plans.append(planned)
    return result
