"""`nore report`: a self-contained HTML file from a real recorded run, checked in a real headless browser."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from minibot.config.views import QueuesConfig
from minibot.contracts.envelope import build_envelope, encode_event
from minibot.ids import random_id
from minibot.journal.atomic import read_critical_json
from minibot.journal.context import RunContext
from minibot.journal.segments import FsyncPolicy, SegmentAppender
from minibot.journal.stop import stop
from minibot.metrics.verify import verify_run
from minibot.reasons import ReasonCode
from tests.metrics.report_browser import Browser, file_url, find_browser
from tests.metrics.report_run import copy_run, nore, recorded_run

pytestmark = pytest.mark.process

# Every plot the report draws; with data in any run that traded (the STOP and AI plots are added below).
DATA_PLOTS = (
    "equity",
    "drawdown",
    "binance_latency",
    "binance_latency_hist",
    "binance_state",
    "rates_market",
    "rates_pipeline",
    "pipeline_latency_hist",
    "roles_timeline",
)
ALL_PLOTS = (*DATA_PLOTS, "stops_timeline", "ai_timeline")
_INSPECT = """JSON.stringify({
  plots: [...document.querySelectorAll('svg.plot')].map(s => {
    const r = s.getBoundingClientRect();
    const shown = [...s.querySelectorAll('.mark')].filter(m => {
      const b = m.getBBox();
      return b.width > 0 || b.height > 0;
    });
    return {
      name: s.dataset.plot, declared: Number(s.dataset.marks), width: r.width, height: r.height, rendered: shown.length
    };
  }),
  verdict: document.querySelector('#verdict') ? document.querySelector('#verdict').dataset.verdict : null,
  text: document.body.innerText
})"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_run(tmp_path_factory)


def browser_path() -> str:
    """The browser to test with: CI installs Debian's chromium (.ci/run), so a missing one is a failure there."""
    found = find_browser()
    if found is None:
        if sys.platform != "linux":
            pytest.skip("no Chromium-family browser on this desktop (the Linux CI installs chromium)")
        pytest.fail("no chromium found: install it (`apt-get install -y chromium`; .ci/run does this)")
    return found


def inspect(html: Path, work: Path, screenshot: Path | None = None) -> dict[str, Any]:
    """Open `html` in headless Chromium: plots (declared and really rendered marks), console errors, requests."""
    browser = Browser(browser_path(), work / "profile")
    try:
        browser.open(file_url(html))
        page: dict[str, Any] = json.loads(browser.evaluate(_INSPECT))
        if screenshot is not None:
            browser.screenshot(screenshot)
        page["errors"] = browser.errors()
        page["requests"] = browser.requests()
    finally:
        browser.close()
    return page


def problems(page: dict[str, Any], html: Path, with_data: tuple[str, ...]) -> list[str]:
    """Why the page is not right: a missing, empty or unrendered plot, a console error, a network request."""
    found = [f"console error: {e}" for e in page["errors"]]
    found += [f"request: {url}" for url in page["requests"] if url != file_url(html)]
    plots = {p["name"]: p for p in page["plots"]}
    for name in ALL_PLOTS:
        plot = plots.get(name)
        if plot is None:
            found.append(f"plot {name} missing")
        elif plot["width"] < 300 or plot["height"] < 40:
            found.append(f"plot {name} not laid out ({plot['width']}x{plot['height']})")
        elif name in with_data and not (plot["declared"] > 0 and plot["rendered"] == plot["declared"]):
            found.append(f"plot {name}: {plot['rendered']} of {plot['declared']} marks rendered")
    return found


def test_report_file_is_self_contained_and_carries_the_verdict(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "night.html"
    done = nore("report", str(run_dir), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == str(out)
    html = out.read_text(encoding="utf-8")
    # Nothing to fetch: no external script, stylesheet, image, font or frame (the SVG namespace is no fetch).
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|<img\b|<iframe\b|@import|url\(", html)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html)
    verdict = verify_run(run_dir)
    assert f'data-verdict="{"PASS" if verdict.passed else "FAIL"}"' in html
    for reason in verdict.reasons:
        assert reason.code in html
    run = read_critical_json(run_dir / "run.json")
    assert run["run_id"] in html and run["cmdline_hash"] in html
    # Every fill of the recorded run has its paper slippage against the mid its intent was decided on.
    trades = html[html.index('<table class="trades">') :].split("</table>")[0]
    column = trades.split("<th>").index("slippage bps vs decision mid</th>") - 1
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in trades.split("<tr>")[2:]]
    assert rows and all(re.fullmatch(r"-?\d+\.\d\d", r[column]) for r in rows)
    default = nore("report", str(run_dir))
    assert default.returncode == 0 and Path(default.stdout.strip()) == run_dir / "report.html"


def test_report_renders_in_a_real_browser(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert nore("report", str(run_dir), "--out", str(out)).returncode == 0
    shot = tmp_path / "report.png"
    page = inspect(out, tmp_path, shot)
    assert problems(page, out, DATA_PLOTS) == []
    assert page["verdict"] in ("PASS", "FAIL")
    assert "no STOP in this run" in page["text"] and "Trades" in page["text"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_the_browser_check_fails_on_a_missing_plot_or_a_console_error(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "broken.html"
    assert nore("report", str(run_dir), "--out", str(out)).returncode == 0
    html = out.read_text(encoding="utf-8")
    html = re.sub(r'<svg class="plot" data-plot="equity".*?</svg>', "", html, count=1, flags=re.S)
    html = html.replace("</body>", "<script>console.error('plot failed')</script></body>")
    out.write_text(html, encoding="utf-8")
    found = problems(inspect(out, tmp_path), out, DATA_PLOTS)
    assert "plot equity missing" in found
    assert any("plot failed" in p for p in found)


def _add_ai_events(run: Path, run_json: dict[str, Any], ts: int) -> None:
    folder = run / "ai"
    folder.mkdir(exist_ok=True)
    out = SegmentAppender(folder, "model_events", FsyncPolicy("always"), 1 << 20)
    for offset, action in ((0, "TRAINED"), (1000, "ACTIVATED"), (2000, "REJECTED")):
        payload = {"action": action, "version": f"m{offset}", "reason": f"test {action.lower()}"}
        out.append(
            encode_event(
                build_envelope(
                    type_="ai_model_event",
                    payload=payload,
                    ts=ts + offset,
                    id_=random_id(),
                    source="ai_role",
                    run_id=run_json["run_id"],
                    cmdline_hash=run_json["cmdline_hash"],
                )
            )
        )
    out.close()


def test_report_shows_stops_ai_events_and_damaged_lines(run_dir: Path, tmp_path: Path) -> None:
    run = copy_run(run_dir, tmp_path)
    doc = read_critical_json(run / "run.json")
    ts = int(doc["clock"]["start_ms"]) + 60_000
    ctx = RunContext(run, doc["run_id"], doc["cmdline_hash"], lambda: ts, QueuesConfig.from_config(doc["config"]))
    stop(ctx, source="cli", component="operator", reason_code=ReasonCode.INJECTED_FAULT, detail="drill", injected=True)
    _add_ai_events(run, doc, ts)
    signals = run / "queues" / "signals" / "inbox.jsonl"
    lines = signals.read_bytes().splitlines(keepends=True)
    assert lines, "the recorded run has signals"
    signals.write_bytes(lines[0].replace(b'"signal"', b'"signaL"', 1) + b"".join(lines[1:]))
    out = tmp_path / "report.html"
    assert nore("report", str(run), "--out", str(out)).returncode == 0
    page = inspect(out, tmp_path, tmp_path / "stopped.png")
    assert problems(page, out, (*DATA_PLOTS, "stops_timeline", "ai_timeline")) == []
    assert page["verdict"] == "FAIL"
    text = page["text"]
    assert "INJECTED_FAULT" in text and "drill" in text
    assert f"{signals}:1 (0): LINE_HASH_MISMATCH" in text


def test_report_refuses_a_folder_that_is_no_run(tmp_path: Path) -> None:
    done = nore("report", str(tmp_path))
    assert done.returncode == 1
    assert "not a run directory (no run.json)" in done.stderr
