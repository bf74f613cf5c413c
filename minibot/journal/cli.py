"""`nore journal verify PATH` and `nore journal cat PATH`."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer

from minibot.contracts.registry import registry
from minibot.journal.layout import INBOX
from minibot.journal.reader import decode_event
from minibot.journal.verify import verify_path
from minibot.reasons import NoreError


def unknown_queue_folders(path: Path) -> list[Path]:
    """Queue folders under `path` (or `path` itself) whose name contracts.v1.json does not declare."""
    known = registry().queues
    inbox = f"{INBOX}.jsonl"
    if (path / inbox).exists():
        candidates = [path]
    elif path.is_dir():
        candidates = [child for child in sorted(path.iterdir()) if (child / inbox).exists()]
    else:
        candidates = []
    return [folder for folder in candidates if folder.name not in known]


journal_app = typer.Typer(help="Inspect and verify sha256 JSONL journals and queues.", no_args_is_help=True)


@journal_app.command("verify")
def verify(
    path: Path = typer.Argument(..., help="A journal file, a queue folder, or a folder of queues."),
    max_problems: int = typer.Option(20, "--max-problems", help="How many problems to print at most."),
) -> None:
    """Check every line's framing, sha256, envelope and payload schema, unique ids, acks and cursors.

    Exit 0 only when clean; otherwise exit 1 and print each problem as
    `file:line (byte offset): REASON_CODE detail`, the first problem first. A queue folder whose name is
    not in contracts.v1.json is such a problem. Exit 2 when PATH does not exist.
    """
    if not path.exists():
        typer.echo(f"error: {path}: no such file or folder", err=True)
        raise typer.Exit(2)
    unknown = unknown_queue_folders(path)
    if unknown:
        for folder in unknown:
            typer.echo(
                f"{folder}: CONFIG_INVALID queue folder {folder.name!r} is not declared in contracts.v1.json, "
                "so its lines cannot be checked"
            )
        raise typer.Exit(1)
    report = verify_path(path)
    for note in report.notes:
        typer.echo(f"note: {note}")
    if report.ok:
        typer.echo(f"OK {path}: {report.lines} lines in {report.files} files, types {report.counts}")
        raise typer.Exit(0)
    for problem in report.problems[:max_problems]:
        typer.echo(str(problem))
    if len(report.problems) > max_problems:
        typer.echo(f"... and {len(report.problems) - max_problems} more problems")
    raise typer.Exit(1)


@journal_app.command("cat")
def cat(
    path: Path = typer.Argument(..., help="A journal file (e.g. queues/fills/inbox.jsonl)."),
    type_: list[str] = typer.Option([], "--type", "-t", help="Only events of this type (repeatable)."),
    payload_only: bool = typer.Option(False, "--payload", help="Print only each event's payload."),
) -> None:
    """Print each verified event as one JSON line; stops with exit 1 at the first invalid line."""
    if not path.is_file():
        typer.echo(f"error: {path}: no such journal file", err=True)
        raise typer.Exit(2)
    wanted = set(type_)
    out = sys.stdout.buffer
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.endswith(b"\n"):
                typer.echo(f"{path}:{number}: LINE_TORN final line has no newline", err=True)
                raise typer.Exit(1)
            try:
                _, event = decode_event(line)
            except NoreError as exc:
                typer.echo(f"{path}:{number}: {exc.reason_code.value} {exc.detail}", err=True)
                raise typer.Exit(1) from None
            if wanted and event["type"] not in wanted:
                continue
            out.write(orjson.dumps(event["payload"] if payload_only else event) + b"\n")
    out.flush()
