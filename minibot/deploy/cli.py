"""`nore stage` and `nore deploy`: the only way changes enter the user's project (R-D1).

Exit codes: 0 done / everything in order; 1 refused (each problem printed as `path: CODE detail`);
2 usage error.
"""

from __future__ import annotations

from pathlib import Path

import typer

from minibot.deploy.apply import DeployRefused, apply, run_check
from minibot.deploy.check import Problem
from minibot.deploy.journal import DeployJournal, Session
from minibot.deploy.paths import StagingArea
from minibot.deploy.stage import StageRefused
from minibot.deploy.stage import stage as stage_files
from minibot.journal.atomic import file_lock

_STAGING_HELP = "Staging root holding pending/, applied/, backups/ and deploy_journal.jsonl (default: TARGET/staging)."


def _refuse(what: str, problems: list[Problem], outcome: str) -> None:
    for problem in problems:
        typer.echo(str(problem))
    typer.echo(f"REFUSED: {what}: {len(problems)} problem(s); {outcome}")
    raise typer.Exit(1)


def stage(
    sources: list[Path] = typer.Argument(..., help="Files or folders to stage (folders are staged recursively)."),
    target: Path = typer.Option(..., "--target", help="The project folder the files will be installed into."),
    root: Path = typer.Option(Path("."), "--root", help="Folder the relative paths are computed against."),
    staging: Path | None = typer.Option(None, "--staging", help=_STAGING_HELP),
    exclude: list[str] = typer.Option(
        [], "--exclude", help="Glob on a path or any of its parts to leave out (repeatable)."
    ),
) -> None:
    """Copy files into the staging area and record them in its manifest (sha256, size, created_ts, cmdline_hash).

    Each file goes to STAGING/pending/files/<path relative to --root>; paths leaving --root (`..`, absolute,
    symlinks out) are refused. Staging again adds to the pending area. Exit 0 when staged, 1 when refused.
    """
    try:
        result = stage_files(sources, target, root=root, staging=staging, excludes=exclude)
    except StageRefused as exc:
        _refuse("stage", exc.problems, "nothing was staged")
    for entry in result.staged:
        typer.echo(f"STAGED {entry.path} sha256={entry.sha256} size={entry.size}")
    if result.excluded:
        typer.echo(f"excluded {len(result.excluded)} file(s) by --exclude: {', '.join(result.excluded[:10])}")
    typer.echo(f"OK: {len(result.staged)} file(s) staged; manifest {result.manifest}")


def deploy(
    target: Path = typer.Option(..., "--target", help="The project folder to install into."),
    check: bool = typer.Option(False, "--check", help="Verify the staging area against its manifest and the target."),
    apply_: bool = typer.Option(False, "--apply", help="Check, then install every staged file atomically."),
    allow_overwrite: bool = typer.Option(
        False, "--allow-overwrite", help="Replace existing different files (each original is backed up first)."
    ),
    staging: Path | None = typer.Option(None, "--staging", help=_STAGING_HELP),
) -> None:
    """Verify (--check) or install (--apply) the pending staging area; every action goes to the deploy journal.

    Refuses a tampered or incomplete staging area naming the exact file (FILE_TAMPERED, FILE_MISSING,
    FILE_UNLISTED, MANIFEST_DAMAGED) and, without --allow-overwrite, any existing file that differs
    (TARGET_EXISTS). Exit 0 when in order / installed, 1 when refused.
    """
    if check == apply_:
        typer.echo("give exactly one of --check or --apply", err=True)
        raise typer.Exit(2)
    session = Session()
    if check:
        area = StagingArea.for_target(target, staging)
        area.root.mkdir(parents=True, exist_ok=True)
        with file_lock(area.lock):
            journal = DeployJournal(area.root, session)
            try:
                result = run_check(area, target, allow_overwrite, journal)
            finally:
                journal.close()
        if not result.ok:
            _refuse("deploy --check", result.problems, "the staging area cannot be installed as it is")
        for plan in result.plans:
            typer.echo(f"{plan.status} {plan.entry.path} -> {plan.dest}")
        typer.echo(f"OK: {len(result.plans)} file(s) ready to install from {area.pending}")
        return
    try:
        done = apply(target, staging=staging, allow_overwrite=allow_overwrite, session=session)
    except DeployRefused as exc:
        done_text = f"installed before it: {', '.join(exc.done)}" if exc.done else "nothing was installed"
        _refuse("deploy --apply", exc.problems, f"{done_text}; the pending area is kept")
    for path in done.installed:
        backup = done.backups.get(path)
        typer.echo(f"INSTALLED {path}" + (f" (backup {backup})" if backup else ""))
    for path in done.unchanged:
        typer.echo(f"UNCHANGED {path}")
    typer.echo(f"OK: {len(done.installed)} installed, {len(done.unchanged)} unchanged; archived to {done.applied_dir}")
