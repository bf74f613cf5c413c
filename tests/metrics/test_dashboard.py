"""The live dashboard, replayed on a recorded run's metrics snapshots: terminal (rich), plain lines, quiet."""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from minibot.journal.atomic import read_critical_json
from minibot.journal.reader import decode_event, iter_lines
from minibot.metrics.dashboard import Dashboard
from tests.metrics.report_run import recorded_run

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_run(tmp_path_factory)


def documents(run: Path) -> list[dict[str, Any]]:
    """Every metrics document the run's collector wrote: the snapshots, then the final metrics.json."""
    snaps = [decode_event(raw.data)[1]["payload"]["metrics"] for raw in iter_lines(run / "metrics", "snapshots")]
    return [*snaps, read_critical_json(run / "metrics.json")]


class Ticker:
    """A settable clock for the plain mode's line interval."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_terminal_view_shows_every_part(run_dir: Path) -> None:
    docs = documents(run_dir)
    assert len(docs) >= 3, "the recorded run wrote several snapshots"
    final = docs[-1]
    console = Console(record=True, width=130, force_terminal=True, color_system="truecolor")
    dash = Dashboard(run_dir, final["duration_ms"], is_terminal=True, console=console)
    for doc in docs[:-1]:
        dash.update(doc)
    middle = console.export_text(clear=False)
    dash.update(final)
    dash.close()
    text = console.export_text()
    assert f"NORE run {final['run_id']}" in text and "ETA" in text and "(speed 60)" in text
    assert "━" in text  # the progress bar
    for role in final["roles"]:
        assert role in text
    lat = final["binance"]["latency_ms"]
    assert f"p50 {lat['p50']:,.1f} / p95 {lat['p95']:,.1f} ms" in text
    assert f"{final['counts']['market_ticks']:,}" in text
    assert f"{final['pnl']['equity']:,.2f} USDT" in text and "% max" in text
    assert "Last STOP  none" in text
    # Rates come from consecutive documents: after the second update they are numbers, not "-".
    assert re.search(r"per min\s*│\s*[\d,]+", middle)


def test_plain_mode_prints_one_line_per_interval(run_dir: Path) -> None:
    docs = documents(run_dir)
    final = docs[-1]
    out = io.StringIO()
    ticker = Ticker()
    dash = Dashboard(run_dir, final["duration_ms"], is_terminal=False, stream=out, interval_s=10, clock=ticker)
    for doc in docs[:-1]:
        dash.update(doc)  # all within the same wall-clock second: one line only
    ticker.now = 10.0
    dash.update(final)
    dash.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines  # first update, the one 10 s later, the closing line
    assert "\x1b" not in out.getvalue(), "no terminal control codes in logs"
    last = lines[-1]
    assert last.startswith(f"[nore {final['run_id']} {final['now_iso']}] ")
    assert f"roles 0/{len(final['roles'])} OK" in last or f"/{len(final['roles'])} OK" in last
    assert f"market_ticks {final['counts']['market_ticks']} (" in last
    assert "last STOP none" in last and "ETA" in last


def test_last_stop_is_shown_in_both_modes(run_dir: Path) -> None:
    doc = copy.deepcopy(documents(run_dir)[-1])
    doc["stops"]["events"] = [
        {"reason_code": "BINANCE_UNREACHABLE", "component": "health_role", "detail": "no answer for 180 s"},
    ]
    out = io.StringIO()
    plain = Dashboard(run_dir, doc["duration_ms"], is_terminal=False, stream=out, interval_s=0)
    plain.update(doc)
    assert "last STOP BINANCE_UNREACHABLE (health_role): no answer for 180 s" in out.getvalue()
    console = Console(record=True, width=130, force_terminal=True)
    term = Dashboard(run_dir, doc["duration_ms"], is_terminal=True, console=console)
    term.update(doc)
    term.close()
    assert "BINANCE_UNREACHABLE (health_role): no answer for 180 s" in console.export_text()


def test_quiet_prints_nothing(run_dir: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, record=True, force_terminal=True)
    for terminal in (True, False):
        dash = Dashboard(run_dir, 180_000, quiet=True, is_terminal=terminal, console=console, stream=out, interval_s=0)
        for doc in documents(run_dir):
            dash.update(doc)
        dash.close()
    assert out.getvalue() == "" and console.export_text() == ""


def test_early_document_without_figures_renders(tmp_path: Path) -> None:
    out = io.StringIO()
    dash = Dashboard(tmp_path, 25_200_000, is_terminal=False, stream=out, interval_s=0)
    dash.update({"elapsed_s": 0.0})
    dash.close()
    assert "0.0% 0h00m00s/7h00m00s ETA 7h00m00s" in out.getvalue()
