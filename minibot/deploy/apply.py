"""`nore deploy --apply`: install the pending area into the target, atomically per file (R-D1).

Order: the full check (any problem refuses everything, each problem journaled as REFUSED); then per file
re-read the staged copy and re-check its sha256 (it may have changed since the check), back up the
original when overwriting (--allow-overwrite only), write the new content through a temp file + fsync +
os.replace (readers see the old or the new file, never a mix), read it back and compare the hash. When
every file is in place the pending area moves to `applied/<session id>/` with an `applied.json` record.

A failure half-way leaves the pending area where it is: the files already installed now match it and count
as UNCHANGED, so running `--apply` again finishes the job without overwriting anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from minibot.deploy.check import NEW, OVERWRITE, UNCHANGED, CheckResult, Plan, Problem, check
from minibot.deploy.journal import DeployJournal, Session
from minibot.deploy.paths import StagingArea
from minibot.journal.atomic import atomic_write_bytes, file_lock, replace_with_retry, write_critical_json
from minibot.reasons import DeployCode, Refusal


class DeployRefused(Refusal, ValueError):
    """The deploy was refused; `problems` names each offending file; `done` lists what was already installed."""

    def __init__(self, problems: list[Problem], done: list[str] | None = None) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems
        self.done = done or []


@dataclass
class ApplyResult:
    """What an apply did: paths installed / unchanged, backups kept (path -> backup file), the archive."""

    installed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    backups: dict[str, str] = field(default_factory=dict)
    applied_dir: Path | None = None


def run_check(area: StagingArea, target: Path, allow_overwrite: bool, journal: DeployJournal) -> CheckResult:
    """Check and journal the outcome: CHECKED per planned file, REFUSED per problem."""
    result = check(area, target, allow_overwrite=allow_overwrite)
    for problem in result.problems:
        journal.refused(problem)
    if result.ok:
        for plan in result.plans:
            journal.record("CHECKED", plan.entry.path, plan.entry.sha256, status=plan.status, dest=str(plan.dest))
    return result


def _archive_dir(area: StagingArea, session: Session) -> Path:
    base = area.applied / session.session_id
    candidate, n = base, 1
    while candidate.exists():
        candidate, n = base.with_name(f"{base.name}-{n}"), n + 1
    return candidate


def _install_one(plan: Plan, area: StagingArea, backup_root: Path, journal: DeployJournal, result: ApplyResult) -> None:
    entry = plan.entry
    data = area.staged(entry.path).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256:
        raise DeployRefused(
            [
                Problem(
                    DeployCode.FILE_TAMPERED,
                    str(area.staged(entry.path)),
                    f"changed after the check: sha256 {actual}",
                    actual,
                )
            ]
        )
    if plan.status == UNCHANGED:
        result.unchanged.append(entry.path)
        return
    if plan.status == NEW and (plan.dest.exists() or plan.dest.is_symlink()):
        raise DeployRefused(
            [Problem(DeployCode.TARGET_EXISTS, str(plan.dest), "appeared after the check; not overwritten")]
        )
    backup: str | None = None
    if plan.status == OVERWRITE:
        original = plan.dest.read_bytes()
        backup_path = backup_root.joinpath(*Path(entry.path).parts)
        backup_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(backup_path, original)
        backup = str(backup_path)
        journal.record("BACKED_UP", entry.path, hashlib.sha256(original).hexdigest(), backup=backup)
        result.backups[entry.path] = backup
    plan.dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(plan.dest, data)
    written = hashlib.sha256(plan.dest.read_bytes()).hexdigest()
    if written != entry.sha256:
        raise DeployRefused(
            [Problem(DeployCode.FILE_TAMPERED, str(plan.dest), f"reads back as sha256 {written}", written)]
        )
    journal.record("INSTALLED", entry.path, entry.sha256, backup=backup, size=entry.size, dest=str(plan.dest))
    result.installed.append(entry.path)


def apply(
    target: Path, *, staging: Path | None = None, allow_overwrite: bool = False, session: Session | None = None
) -> ApplyResult:
    """Check, then install the pending area into `target`; raises DeployRefused naming every problem."""
    area = StagingArea.for_target(target, staging)
    area.root.mkdir(parents=True, exist_ok=True)
    session = session or Session()
    result = ApplyResult()
    with file_lock(area.lock):
        journal = DeployJournal(area.root, session)
        try:
            checked = run_check(area, Path(target), allow_overwrite, journal)
            if not checked.ok:
                raise DeployRefused(checked.problems)
            archive = _archive_dir(area, session)
            try:
                for plan in checked.plans:
                    _install_one(plan, area, area.backups / archive.name, journal, result)
            except DeployRefused as exc:
                for problem in exc.problems:
                    journal.refused(problem)
                raise DeployRefused(exc.problems, result.installed) from None
            write_critical_json(
                area.pending / "applied.json",
                {
                    "session_id": session.session_id,
                    "cmdline_hash": session.cmdline_hash,
                    "target": str(Path(target).resolve()),
                    "installed": result.installed,
                    "unchanged": result.unchanged,
                    "backups": result.backups,
                },
            )
            archive.parent.mkdir(parents=True, exist_ok=True)
            replace_with_retry(area.pending, archive)
            result.applied_dir = archive
        finally:
            journal.close()
    return result
