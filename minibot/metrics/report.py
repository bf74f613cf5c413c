"""`nore report RUN_DIR`: one self-contained HTML file telling the truth about a night run.

The verdict of `nore verify` comes first; then plots (inline SVG, drawn here: the file needs no network,
no script and no other file) and tables built from the run directory's own journals and metrics.json.
Written atomically to `<run>/report.html` unless `--out` says otherwise; its path is printed.
"""

from __future__ import annotations

from pathlib import Path

import typer

from minibot.contracts.envelope import ts_iso
from minibot.journal.atomic import atomic_write_bytes
from minibot.metrics import report_series as rs
from minibot.metrics.latency import PIPELINE_KIND
from minibot.metrics.report_data import RunData, load_run
from minibot.metrics.report_inputs import strategy_inputs
from minibot.metrics.report_plots import histogram, time_series, timeline
from minibot.metrics.report_svg import STATE_COLORS, attr
from minibot.metrics.report_tables import (
    ai_table,
    headline,
    latency_figures,
    latency_table,
    rejects_table,
    roles_table,
    stop_table,
    table,
    trades_table,
)
from minibot.metrics.report_verdict import verdict_html
from minibot.runlayout import REPORT_FILE, RUN_FILE, STOP_FLAG

PIPELINE_QUEUES = (
    "signals",
    "risk_actions",
    "order_intents",
    "order_results",
    "fills",
    "ai_recommendations",
    "stop_journal",
)
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f3f4f6;color:#111827}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d1d5db;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px;color:#374151}
.meta{color:#4b5563;font-size:13px}.meta code{font-size:12px;word-break:break-all}
section.panel{background:#fff;border-radius:8px;padding:12px 16px;margin:12px 0;box-shadow:0 1px 2px #0001}
.verdict{border-radius:8px;padding:14px 18px;margin:16px 0;color:#fff}
.verdict.pass{background:#15803d}.verdict.fail{background:#b91c1c}
.verdict h2{border:0;margin:0 0 6px;color:#fff;font-size:20px}.verdict ul{margin:6px 0 0 18px;padding:0}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:8px;margin:12px 0}
.card{background:#fff;border-radius:8px;padding:8px 10px;box-shadow:0 1px 2px #0001}
.card .label{font-size:11px;color:#6b7280;text-transform:uppercase}.card .value{font-size:17px;font-weight:600}
.card.good .value,.note.good{color:#15803d}.card.bad .value{color:#b91c1c}
table{border-collapse:collapse;width:100%;font-size:12px;margin:6px 0}
th,td{border-bottom:1px solid #e5e7eb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f9fafb;position:sticky;top:0}table.trades td:first-child{white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{max-height:420px;overflow:auto}.note{color:#4b5563;font-size:13px}
.problems li{font-family:ui-monospace,Consolas,monospace;font-size:12px}
svg.plot{display:block;margin:4px 0 10px;background:#fff}
"""


def _section(title: str, *parts: str) -> str:
    return f'<section class="panel"><h2>{attr(title)}</h2>{"".join(parts)}</section>'


def _header(data: RunData) -> str:
    run = data.run or {}
    start, end = data.span()
    clock = run.get("clock") or {}
    mode = "simulator" if run.get("sim") else "live Binance public data"
    planned = data.config.get("duration_ms")
    planned_text = "-" if planned is None else f"{planned / 3_600_000:.2f} h planned"
    return (
        f"<h1>NORE night report &mdash; run {attr(run.get('run_id', data.run_dir.name))}</h1>"
        f'<div class="meta">{attr(ts_iso(start))} &rarr; {attr(ts_iso(end))} (run clock, UTC) &middot; '
        f"{(end - start) / 3_600_000:.2f} h of {attr(planned_text)} "
        f"&middot; speed {attr(clock.get('speed', '-'))} &middot; {attr(mode)}<br>"
        f"command line <code>{attr(run.get('command_line', '-'))}</code><br>"
        f"cmdline_hash <code>{attr(run.get('cmdline_hash', '-'))}</code> &middot; "
        f"folder <code>{attr(data.run_dir)}</code></div>"
    )


def _stop_flag(data: RunData) -> str:
    flag = data.stop_flag
    if not flag:
        return ""
    p = flag.get("payload") or {}
    return _section(
        STOP_FLAG,
        f"<p><b>{attr(p.get('reason_code'))}</b> from {attr(p.get('component'))} at {attr(flag.get('ts_iso', ''))}: "
        f"{attr(p.get('detail'))}{' (injected fault)' if p.get('injected') else ''}</p>",
    )


def _binance_state(data: RunData, span: tuple[int, int]) -> str:
    lane = rs.binance_lane(data)
    seen = {text.removeprefix("Binance ") for _, _, _, text in lane.intervals}
    legend = [(s, c) for s, c in STATE_COLORS.items() if s in seen]
    return timeline("binance_state", "Binance health state", [lane], span=span, legend_items=legend)


def render(data: RunData, verdict: str) -> str:
    """The whole page."""
    span = data.span()
    curve = rs.equity_curve(data)
    lat_series, lat_values, lat_failures = rs.binance_latency(data)
    market_rates, bucket = rs.rates(data, rs.MARKET_QUEUES)
    pipe_rates, _ = rs.rates(data, PIPELINE_QUEUES)
    latency = latency_figures(data)
    pipeline = rs.latencies(data, PIPELINE_KIND)
    lanes, lane_stats = rs.role_lanes(data)
    stops = rs.stop_lanes(data)
    stop_markers = [m for lane in stops for m in lane.markers]
    quote = (data.config.get("execution") or {}).get("quote_asset", "USDT")

    def quantiles(values: list[float]) -> list[tuple[str, float]]:
        return [(f"p{p}", rs.percentile(values, p)) for p in (50, 95, 99)] if values else []

    body = [
        _header(data),
        verdict,
        _stop_flag(data),
        headline(data, curve.portfolio, lat_values, latency),
        _section(
            "Equity and drawdown",
            time_series("equity", "virtual equity", [curve.equity], unit=str(quote), span=span, markers=stop_markers),
            time_series(
                "drawdown", "drawdown from peak", [curve.drawdown], unit="drawdown %", span=span, y_min=0.0, height=180
            ),
        ),
        _section(
            "Binance",
            "<h3>Probe latency over time (wall-clock ms)</h3>",
            time_series(
                "binance_latency",
                "Binance probe latency",
                lat_series,
                unit="ms",
                span=span,
                markers=lat_failures,
                y_min=0.0,
            ),
            "<h3>Latency distribution</h3>",
            histogram(
                "binance_latency_hist", "Binance probe latency", lat_values, unit="ms", lines=quantiles(lat_values)
            ),
            _binance_state(data, span),
        ),
        _section(
            "Event rates",
            f'<p class="note">events per minute of run clock, in buckets of {bucket / 60_000:g} min</p>',
            time_series("rates_market", "market data rates", market_rates, unit="events/min", span=span, y_min=0.0),
            time_series("rates_pipeline", "pipeline rates", pipe_rates, unit="events/min", span=span, y_min=0.0),
            table(["queue", "events"], [[q, n] for q, n in sorted(data.counts.items())]),
        ),
        _section(
            "Latency: pipeline (wall clock) and modelled (market time)",
            latency_table(latency),
            "<h3>Pipeline latency distribution (wall-clock ms)</h3>",
            histogram("pipeline_latency_hist", "pipeline latency", pipeline, unit="ms", lines=quantiles(pipeline)),
        ),
        _section(
            "Roles: uptime and restarts",
            timeline(
                "roles_timeline",
                "role heartbeats",
                lanes,
                span=span,
                legend_items=[*STATE_COLORS.items(), ("restart", "#111827")],
            ),
            roles_table(data, lane_stats),
        ),
        _section(
            "STOPs",
            timeline("stops_timeline", "STOP events", stops, span=span, empty="no STOP in this run"),
            stop_table(data),
        ),
        _section(
            "AI snapshots and activations",
            timeline(
                "ai_timeline",
                "AI model events",
                rs.ai_lanes(data),
                span=span,
                empty="no AI model event in this run (no snapshot trained or activated)",
            ),
            ai_table(data),
        ),
        _section("Trades", f'<div class="scroll">{trades_table(data, curve.trip_pnl)}</div>'),
        _section("Risk refusals", rejects_table(data)),
        _section("Strategy input log", strategy_inputs(data)),
    ]
    if data.problem_count:
        items = "".join(f"<li>{attr(p)}</li>" for p in data.problems)
        more = (
            f"<p class='note'>... and {data.problem_count - len(data.problems)} more</p>"
            if data.problem_count > len(data.problems)
            else ""
        )
        body.append(_section("Data problems (lines left out of the plots)", f'<ul class="problems">{items}</ul>{more}'))
    title = f"NORE report {(data.run or {}).get('run_id', data.run_dir.name)}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{attr(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head>'
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Build the report of `run_dir` and write it atomically; returns its path."""
    data = load_run(run_dir)
    target = Path(out) if out is not None else Path(run_dir) / REPORT_FILE
    atomic_write_bytes(target, render(data, verdict_html(Path(run_dir))).encode("utf-8"))
    return target


def report(
    run_dir: Path = typer.Argument(..., help="The run directory (<var>/runs/<run_id>)."),
    out: Path | None = typer.Option(None, "--out", help="Where to write the HTML (default: RUN_DIR/report.html)."),
) -> None:
    """Write one self-contained HTML report of a run (verdict, plots, trades, STOPs) and print its path.

    Exit 0 when written; 1 when RUN_DIR is not a run directory (no run.json) or the file cannot be written.
    """
    if not (Path(run_dir) / RUN_FILE).is_file():
        typer.echo(f"{run_dir}: not a run directory (no run.json)", err=True)
        raise typer.Exit(1)
    try:
        written = write_report(run_dir, out)
    except OSError as exc:
        typer.echo(f"cannot write the report: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(written))
