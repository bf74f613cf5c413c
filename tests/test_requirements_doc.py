"""Every requirement ID cited in the code, tests, benchmarks and docs resolves in docs/requirements.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ID = re.compile(r"\bR-[A-Z]\d+\b")
# A row of the requirements table: `| R-XN | ... |`.
DEFINED = re.compile(r"^\| (R-[A-Z]\d+) \|", re.MULTILINE)


def _cited() -> dict[str, Path]:
    cited: dict[str, Path] = {}
    for folder in ("minibot", "tests", "bench", "docs"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in {".py", ".md", ".json"} and path.name != "requirements.md":
                for rid in ID.findall(path.read_text(encoding="utf-8")):
                    cited.setdefault(rid, path)
    return cited


def test_every_cited_requirement_is_defined() -> None:
    defined = set(DEFINED.findall((ROOT / "docs" / "requirements.md").read_text(encoding="utf-8")))
    cited = _cited()
    assert len(cited) > 40  # the walk really read the sources
    missing = {rid: str(path.relative_to(ROOT)) for rid, path in cited.items() if rid not in defined}
    assert not missing, f"requirement IDs cited but not in docs/requirements.md: {missing}"
