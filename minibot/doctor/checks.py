"""The doctor's checks, in report order: a table (name, "module:function"), each function taking the
`DoctorContext` and returning its rows. A check that fails in an unexpected way becomes a FAIL row naming
the error, never a traceback, and the remaining checks still run."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from minibot.doctor.rows import DoctorContext, Row, Status

Check = Callable[[DoctorContext], list[Row]]
log = logging.getLogger("nore.doctor")

CHECKS: list[tuple[str, str]] = [
    ("python", "minibot.doctor.python_env:check"),
    ("disk", "minibot.doctor.disk:check"),
    ("var folder", "minibot.doctor.varfolder:check"),
    ("lock", "minibot.doctor.lockcheck:check"),
    ("binance", "minibot.doctor.network:check"),
    ("windows host", "minibot.doctor.host:check"),
]


def load(target: str) -> Check:
    """The check function named by `module:function`."""
    module_name, attr = target.split(":")
    check: Check = getattr(importlib.import_module(module_name), attr)
    return check


def run_checks(ctx: DoctorContext, table: list[tuple[str, str]] | None = None) -> list[Row]:
    """Every check of `table` (default `CHECKS`) in order; all rows."""
    rows: list[Row] = []
    for name, target in CHECKS if table is None else table:
        try:
            rows += load(target)(ctx)
        except Exception as exc:  # one broken check must not hide the others' findings
            log.exception("doctor check %s failed", name)
            rows.append(Row(name, Status.FAIL, f"the check itself failed: {type(exc).__name__}: {exc}", "report it"))
    return rows
