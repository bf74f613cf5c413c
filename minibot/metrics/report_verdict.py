"""The verdict box at the top of the report: `nore verify`'s PASS / FAIL with every reason, verbatim."""

from __future__ import annotations

from pathlib import Path

from minibot.metrics.report_svg import attr
from minibot.metrics.verify import FAIL, PASS, RunUnreadable, verify_run


def verdict_html(run_dir: Path) -> str:
    """Run the same verification as `nore verify RUN_DIR` and render its outcome."""
    try:
        verdict = verify_run(Path(run_dir))
    except RunUnreadable as exc:
        return (
            '<div class="verdict fail" id="verdict" data-verdict="ERROR"><h2>ERROR: the run cannot be verified</h2>'
            f"<p>{attr(exc)}</p></div>"
        )
    word = PASS if verdict.passed else FAIL
    items = "".join(f"<li><b>{attr(r.code)}</b>: {attr(r.detail)}</li>" for r in verdict.reasons)
    detail = (
        f"<p>{len(verdict.reasons)} reason(s):</p><ul>{items}</ul>"
        if verdict.reasons
        else f"<p>Every R-Q5 check passed ({verdict.lines_checked:,} journal lines checked).</p>"
    )
    return (
        f'<div class="verdict {word.lower()}" id="verdict" data-verdict="{word}">'
        f"<h2>nore verify: {word}</h2>{detail}</div>"
    )
