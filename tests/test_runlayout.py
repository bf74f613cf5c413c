"""docs/architecture.md "Run layout" draws minibot/runlayout.py exactly: every name of the module is in the
drawing under its own file name, every constant the drawing names exists, and the critical-file table is
`CRITICAL_FILES` row for row."""

from __future__ import annotations

import re
from pathlib import Path, PurePath

from minibot import runlayout

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
# Module-level names that are not one file or folder: the critical-file table and its derivations.
NOT_A_NAME = {"CRITICAL_FILES", "WATCHED_CRITICAL_GLOBS", "VERIFIED_CRITICAL_FILES"}


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _layout_names() -> dict[str, str]:
    """Every file / folder constant of runlayout -> the file name it gives."""
    names = {}
    for name, value in vars(runlayout).items():
        if name.isupper() and name not in NOT_A_NAME and isinstance(value, str | PurePath):
            leaf = PurePath(value).name if isinstance(value, PurePath) or "/" in value else value
            names[name] = f"{leaf}.jsonl" if name.endswith("_STEM") else leaf
    return names


def _drawing() -> list[tuple[str, str]]:
    """(file name, constant) of every drawn line that names a constant."""
    block = _section("Run layout").split("```")[1]
    rows = []
    for line in block.splitlines():
        m = re.match(r"^\s+(\S+)\s+([A-Z][A-Z0-9_]+(?: / [A-Z][A-Z0-9_]+)*)\b", line)
        if m:
            shown = m.group(1).rstrip("/").rsplit("/", 1)[-1]
            rows += [(shown, const) for const in m.group(2).split(" / ")]
    return rows


def test_the_drawing_names_every_file_of_the_module_under_its_own_name() -> None:
    names = _layout_names()
    drawn = _drawing()
    assert {const for _, const in drawn} == set(names), "constants drawn vs constants in minibot/runlayout.py"
    for shown, const in drawn:
        expected = names[const]
        ok = shown.startswith(expected) if const.endswith("_PREFIX") else shown == expected
        assert ok, f"docs/architecture.md draws {const} as {shown!r}; runlayout names it {expected!r}"


def test_the_critical_file_table_is_the_module_list() -> None:
    table = re.findall(r"^\| `([^`]+)` \| (yes|no) \| (yes|no) \|$", _section("Run layout"), re.MULTILINE)
    expected = [
        (f.pattern, "yes" if f.required else "no", "yes" if f.watched else "no") for f in runlayout.CRITICAL_FILES
    ]
    assert table == expected


def test_the_watchdog_and_verify_lists_are_derived_from_the_one_list() -> None:
    patterns = [f.pattern for f in runlayout.CRITICAL_FILES]
    assert set(runlayout.WATCHED_CRITICAL_GLOBS) <= set(patterns)
    assert {f.pattern for f in runlayout.VERIFIED_CRITICAL_FILES} == set(patterns) - {
        runlayout.RUN_FILE,
        runlayout.METRICS_FILE,
    }
