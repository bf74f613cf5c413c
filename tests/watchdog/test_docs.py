"""docs/operations.md explains every STOP reason and every exit code of `nore run`."""

from __future__ import annotations

import re
from pathlib import Path

from minibot.exitcodes import ExitCode
from minibot.reasons import ReasonCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_every_reason_code_has_a_row_with_meaning_and_action() -> None:
    stops = _section(DOC.read_text(encoding="utf-8"), "STOP reasons")
    rows = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| (.+) \|$", stops, re.MULTILINE))
    missing = [c.value for c in ReasonCode if c.value not in rows]
    assert not missing, f"docs/operations.md lacks STOP reasons {missing}"
    assert all(row.count(" | ") == 1 for row in rows.values()), "each row: meaning | what to do"


def test_every_exit_code_is_documented() -> None:
    codes = _section(DOC.read_text(encoding="utf-8"), "Exit codes")
    for code in (ExitCode.OK, ExitCode.USAGE, ExitCode.STOPPED, ExitCode.ERROR):
        assert re.search(rf"^\| {code} \|", codes, re.MULTILINE), code
