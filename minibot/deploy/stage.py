"""`nore stage`: copy files into `<staging>/pending/files/<relative path>` and list them in the manifest.

Relative paths are computed against a root (the project folder the sources come from) and refused when they
leave it (`..`, another drive, a symlink out). Staging again adds to the pending area (a path staged twice
keeps its newest copy). The copies are written atomically first and the manifest last, so a crash while
staging leaves copies the manifest does not list, which `deploy --check` refuses (FILE_UNLISTED).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from minibot.deploy.check import Problem, check
from minibot.deploy.journal import DeployJournal, Session, now_ms
from minibot.deploy.manifest import Entry, Manifest, write_manifest
from minibot.deploy.paths import PathRefused, StagingArea, relative_to_root
from minibot.journal.atomic import atomic_write_bytes, file_lock
from minibot.reasons import DeployCode, Refusal

# Problems of the target or of an empty manifest do not make an existing pending area unsafe to add to.
_NOT_STAGING_PROBLEMS = frozenset(
    {DeployCode.NOTHING_STAGED, DeployCode.TARGET_EXISTS, DeployCode.TARGET_NOT_FILE, DeployCode.TARGET_ESCAPES}
)


class StageRefused(Refusal, ValueError):
    """Staging refused; `problems` names each refused path with its code."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class StageResult:
    """What one `nore stage` did."""

    staged: tuple[Entry, ...]
    excluded: tuple[str, ...]
    manifest: Path


def _excluded(rel: str, patterns: Sequence[str]) -> bool:
    parts = PurePosixPath(rel).parts
    return any(fnmatch.fnmatchcase(rel, p) or any(fnmatch.fnmatchcase(part, p) for part in parts) for p in patterns)


def _expand(source: Path) -> Iterable[Path]:
    """`source` itself when a file, else every entry below it (sorted, symlinked folders not followed)."""
    if not source.is_dir() or source.is_symlink():
        yield source
        return
    for folder, dirs, names in os.walk(source):
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if Path(folder, d).is_symlink()]:
            yield Path(folder, name)


def collect(
    sources: Sequence[Path], root: Path, area: StagingArea, excludes: Sequence[str]
) -> tuple[dict[str, Path], list[str], list[Problem]]:
    """Map relative path -> source file; returns (files, excluded paths, problems)."""
    files: dict[str, Path] = {}
    folded: dict[str, str] = {}
    excluded: list[str] = []
    problems: list[Problem] = []
    staging_real = area.root.resolve()
    for source in sources:
        if not source.exists() and not source.is_symlink():
            problems.append(Problem(DeployCode.SOURCE_NOT_FILE, str(source), "does not exist"))
            continue
        for path in _expand(source):
            try:
                rel = relative_to_root(path, root)
            except PathRefused as exc:
                problems.append(Problem(exc.code, exc.path, exc.detail))
                continue
            if _excluded(rel, excludes):
                excluded.append(rel)
                continue
            if path.resolve().is_relative_to(staging_real):
                problems.append(
                    Problem(DeployCode.SOURCE_IN_STAGING, str(path), f"lies inside the staging area {area.root}")
                )
            elif not path.is_file():
                problems.append(Problem(DeployCode.SOURCE_NOT_FILE, str(path), "is not a regular file"))
            elif rel.casefold() in folded and folded[rel.casefold()] != rel:
                clash = folded[rel.casefold()]
                problems.append(Problem(DeployCode.PATH_DUPLICATE, str(path), f"collides with {clash!r} on Windows"))
            else:
                files[rel] = path
                folded[rel.casefold()] = rel
    return files, excluded, problems


def stage(
    sources: Sequence[Path],
    target: Path,
    *,
    root: Path,
    staging: Path | None = None,
    excludes: Sequence[str] = (),
    session: Session | None = None,
) -> StageResult:
    """Stage `sources` for `target`; raises StageRefused naming every refused path (nothing is staged then)."""
    if not Path(target).is_dir():
        raise StageRefused([Problem(DeployCode.TARGET_MISSING, str(target), "is not an existing folder")])
    area = StagingArea.for_target(target, staging)
    area.root.mkdir(parents=True, exist_ok=True)
    session = session or Session()
    with file_lock(area.lock):
        files, excluded, problems = collect(sources, root, area, excludes)
        if not files and not problems:
            problems.append(Problem(DeployCode.NOTHING_STAGED, ", ".join(map(str, sources)), "holds no file to stage"))
        previous: Manifest | None = None
        if area.manifest.exists() or area.files.exists():
            # Adding to a damaged pending area would bless it: its own problems refuse this stage too.
            current = check(area, Path(target), allow_overwrite=True)
            problems.extend(p for p in current.problems if p.code not in _NOT_STAGING_PROBLEMS)
            previous = current.manifest
        journal = DeployJournal(area.root, session)
        try:
            if problems:
                for problem in problems:
                    journal.refused(problem)
                raise StageRefused(problems)
            staged = _copy(area, files, session, journal)
            ts = now_ms()
            entries = {**(previous.by_path() if previous else {}), **{e.path: e for e in staged}}
            write_manifest(
                area.manifest,
                Manifest(
                    previous.created_ts if previous else ts,
                    ts,
                    str(Path(os.path.abspath(root))),
                    tuple(entries.values()),
                ),
            )
        finally:
            journal.close()
    return StageResult(tuple(staged), tuple(excluded), area.manifest)


def _copy(area: StagingArea, files: dict[str, Path], session: Session, journal: DeployJournal) -> list[Entry]:
    staged: list[Entry] = []
    for rel, source in sorted(files.items()):
        # Hash the very bytes that are written, so the manifest describes the copy, not a later source state.
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        dest = area.staged(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(dest, data)
        entry = Entry(rel, digest, len(data), now_ms(), session.cmdline_hash, str(Path(os.path.abspath(source))))
        journal.record("STAGED", rel, digest, size=len(data), source=entry.source)
        staged.append(entry)
    return staged
