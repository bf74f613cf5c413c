"""`nore gates`: the R-Q1..R-Q4 table."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

import orjson
import typer

from minibot.gates.base import FAIL, GATES, NOT_BUILT, GateResult, run_gate


def gates(
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON instead of a table."),
) -> None:
    """Run every acceptance gate (R-Q1..R-Q4) in a temporary directory and print one row per gate.

    Each row: name, requirement, PASS / FAIL / NOT BUILT, and a one-line detail. Exit 0 only when every
    built gate passes.
    """
    results: list[GateResult] = []
    with tempfile.TemporaryDirectory(prefix="nore-gates-") as tmp:
        for name, requirement, target in GATES:
            results.append(run_gate(name, requirement, target, Path(tmp) / name))
    failed = any(r.status == FAIL for r in results)
    if as_json:
        doc = {"ok": not failed, "gates": [asdict(r) for r in results]}
        typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        width = max(len(r.name) for r in results)
        for r in results:
            typer.echo(f"{r.name:<{width}}  {r.requirement:<5} {r.status:<9}  {r.detail}")
        built = [r for r in results if r.status != NOT_BUILT]
        passed = sum(1 for r in built if r.status != FAIL)
        typer.echo(f"{passed}/{len(built)} built gates pass; {len(results) - len(built)} not built")
    raise typer.Exit(1 if failed else 0)
