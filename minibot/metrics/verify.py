"""`nore verify RUN_DIR`: the R-Q5 verdict on a finished (or stopped) run.

PASS only when nothing is wrong:
- every journal line's framing, hash, envelope and payload schema; ids unique; acks and cursors agree
  with their queues; run_id and cmdline_hash of every event equal run.json's (R-T1/T2/T6/T7);
- critical JSON files (run.json, exchange_info.json, metrics.json, cursors, STOP.flag, ...) whole (R-T3);
- every role heartbeated for the whole run or was restored by the watchdog (a new process) after
  going silent, and the run lasted its planned duration unless a STOP ended it;
- Binance latency p95 and error share within `metrics.max_latency_p95_ms` / `metrics.max_error_rate`;
- metrics.json is final and its PnL figures equal a recomputation from the fills and ticks it covers;
- no order request was ever sent (the request journal holds public GETs only; `sim_stats.json`, when
  present, lists no violation);
- every order_intent has exactly one order_result, every order's fills sum to what its results report
  (minibot.metrics.verify_orders);
- no STOP, or only injected ones.
A backtest (run.json `supervisor.mode` = "backtest", written by `nore backtest`) is one process over
recorded files: liveness, Binance health and the request log are reported as "not applicable: backtest";
every journal, identity, critical-file, order-accounting, STOP and metrics check still runs.
Exit 0 on PASS, 1 on FAIL, 2 when RUN_DIR is not a readable run directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import typer

from minibot.config.loader import validate_config
from minibot.config.rules import check_run_paths
from minibot.config.views import MetricsConfig, QueuesConfig
from minibot.journal.atomic import read_critical_json
from minibot.metrics.collector import MetricsCollector
from minibot.metrics.latency import latency_lines
from minibot.metrics.verdict import Reason, Reasons
from minibot.metrics.verify_checks import (
    check_binance,
    check_cause,
    check_critical_files,
    check_liveness,
    check_metrics,
    check_no_orders,
    check_stops,
    read_critical,
)
from minibot.metrics.verify_journals import check_identity, check_integrity
from minibot.metrics.verify_orders import check_orders
from minibot.reasons import ConfigInvalid, NonAtomicWrite, Refusal, VerifyCode
from minibot.runlayout import METRICS_FILE, REQUESTS_DIR, REQUESTS_STEM, RUN_FILE, STOP_FLAG

PASS = "PASS"
FAIL = "FAIL"
RUN_KEYS = ("run_id", "cmdline_hash", "config", "clock")
BACKTEST_NOT_APPLICABLE = (
    "liveness (heartbeats, planned duration)",
    "Binance health (latency, errors)",
    "request log (no network client)",
)


class RunUnreadable(Refusal):
    """RUN_DIR is not a run directory that can be verified at all (exit 2)."""


@dataclass
class Verdict:
    """The outcome of `verify_run`."""

    run_dir: Path
    run_id: str | None
    reasons: list[Reason]
    metrics: dict[str, Any] = field(default_factory=dict)
    restarts: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines_checked: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        """The `--json` document."""
        return {
            "verdict": PASS if self.passed else FAIL,
            "run_dir": str(self.run_dir),
            "run_id": self.run_id,
            "reasons": [r.as_dict() for r in self.reasons],
            "lines_checked": self.lines_checked,
            "notes": self.notes,
            "restarts": self.restarts,
            "metrics": self.metrics,
        }


def load_run(run_dir: Path, reasons: Reasons) -> dict[str, Any] | None:
    """run.json; RunUnreadable if the folder is no run directory, None (with a reason) if it is damaged."""
    if not run_dir.is_dir():
        raise RunUnreadable(f"{run_dir}: no such directory")
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise RunUnreadable(f"{path} does not exist: {run_dir} is not a NORE run directory")
    try:
        run = read_critical_json(path)
    except NonAtomicWrite as exc:
        reasons.add(exc.reason_code.value, exc.detail)
        return None
    except OSError as exc:
        raise RunUnreadable(f"{path}: cannot be read ({exc})") from None
    missing = [k for k in RUN_KEYS if not isinstance(run, dict) or k not in run]
    if missing:
        raise RunUnreadable(f"{path}: lacks {missing}; not a run.json written by nore run")
    try:
        validate_config(run["config"], f"{path} config")
        check_run_paths(run["config"], f"{path} config")  # folders outside the run are not this run's to judge
    except ConfigInvalid as exc:
        raise RunUnreadable(exc.detail) from None
    return dict(run)


def verify_run(run_dir: Path) -> Verdict:
    """Check everything R-Q5 asks of the run in `run_dir`; see the module docstring."""
    run_dir = Path(run_dir)
    reasons = Reasons()
    run = load_run(run_dir, reasons)
    if run is None:
        return Verdict(run_dir, None, reasons.listed())
    config = run["config"]
    queues_dir = run_dir / QueuesConfig.from_config(config).base_dir
    check_cause(run_dir, queues_dir, reasons)
    lines = check_integrity(run_dir, queues_dir, reasons)
    check_identity(run_dir, queues_dir, run, reasons)
    check_critical_files(run_dir, reasons)
    collector = MetricsCollector(run_dir, config, strict=False)
    collector.update(None)
    figures = collector.metrics(final=True)
    collector.close()
    recorded = read_critical(run_dir / METRICS_FILE, Reasons()) if (run_dir / METRICS_FILE).exists() else None
    recorded_roles = recorded.get("roles", {}) if isinstance(recorded, dict) else {}
    start_ms = int(run["clock"]["start_ms"])
    expected = set(recorded_roles) | set(figures["roles"])
    first_stop = figures["stops"]["first_ms"]
    if is_backtest(run):
        _backtest_checks(run_dir, figures, reasons)
    else:
        check_liveness(
            figures["roles"], expected, start_ms, collector.duration_ms, collector.silent_ms, first_stop, reasons
        )
        check_binance(figures["binance"], MetricsConfig.from_config(config), reasons)
        check_no_orders(run_dir, reasons)
    check_stops(run_dir, queues_dir, reasons)
    check_orders(queues_dir, first_stop is not None or (run_dir / STOP_FLAG).exists(), reasons)
    check_metrics(run_dir, queues_dir, config, figures, reasons)
    restarts = {
        name: {
            "seen_in_heartbeats": r.get("restarts_seen", 0),
            "by_supervisor": recorded_roles.get(name, {}).get("restarts"),
        }
        for name, r in figures["roles"].items()
    }
    return Verdict(run_dir, run["run_id"], reasons.listed(), figures, restarts, lines, reasons.notes)


def is_backtest(run: dict[str, Any]) -> bool:
    """run.json of a `nore backtest` (its supervisor block says so and it carries the backtest section)."""
    supervisor = run.get("supervisor")
    return isinstance(supervisor, dict) and supervisor.get("mode") == "backtest" and "backtest" in run


def _backtest_checks(run_dir: Path, figures: dict[str, Any], reasons: Reasons) -> None:
    """A backtest is one process over files: no role heartbeats, no planned duration, no network. Those checks
    are named as not applicable; one that finds heartbeats or requests anyway is no backtest and fails."""
    if any(r.get("heartbeats") for r in figures["roles"].values()):
        reasons.add(VerifyCode.ROLE_SILENT.value, "run.json says backtest, but roles sent heartbeats")
    if figures["binance"]["requests"] or (run_dir / REQUESTS_DIR / f"{REQUESTS_STEM}.jsonl").exists():
        check_no_orders(run_dir, reasons)
        reasons.add(VerifyCode.BINANCE_NOT_MEASURED.value, "run.json says backtest, but it logged Binance requests")
    reasons.notes.extend(f"{check}: not applicable: backtest" for check in BACKTEST_NOT_APPLICABLE)


def _fmt(value: Any, unit: str = "", digits: int = 1, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}{unit}"


def _figure_lines(verdict: Verdict) -> list[str]:
    """The R-N2 figures in brief (latencies are wall-clock milliseconds)."""
    m = verdict.metrics
    c, b, pnl, stops = m["counts"], m["binance"], m["pnl"], m["stops"]
    lat = b["latency_ms"]
    lines = [
        f"  events: {c.get('market_ticks', 0)} market ticks, {c.get('signals', 0)} signals, "
        f"{c.get('risk_actions', 0)} risk actions, {c.get('order_intents', 0)} order intents, "
        f"{c.get('order_results', 0)} order results, {c.get('fills', 0)} fills ({verdict.lines_checked} lines)",
        f"  binance: {b['requests']} requests, latency p50 {_fmt(lat['p50'], ' ms')} p95 {_fmt(lat['p95'], ' ms')} "
        f"p99 {_fmt(lat['p99'], ' ms')}, errors {b['errors']} ({_fmt(b['error_rate'], ' %', scale=100)})",
        *(f"  {line}" for line in latency_lines(m["latency"])),
    ]
    if "error" in pnl:
        lines.append(f"  pnl: {pnl['error']}")
    else:
        lines.append(
            f"  pnl: {pnl['total_pnl']:+.2f} {pnl['quote_asset']} (realized {pnl['realized_pnl']:+.2f}), "
            f"max drawdown {pnl['max_drawdown_pct']:.2f} %, {pnl['trips']} trips, "
            f"win rate {_fmt(pnl['win_rate'], ' %', scale=100)}, R:R {_fmt(pnl['rr'], digits=2)}"
        )
    lines.append(f"  stops: {stops['count']} ({stops['injected']} injected), {stops['share']:.1%} of the run lost")
    for name, r in sorted(m["roles"].items()):
        restarts = verdict.restarts[name]["seen_in_heartbeats"]
        lines.append(
            f"  {name}: alive {_fmt(r.get('alive_pct'), ' %')}, {restarts} restarts, last {r.get('last_state')}"
        )
    return lines


def render_text(verdict: Verdict) -> str:
    """The human report: the R-N2 figures in brief, then PASS / FAIL and every reason."""
    out = [f"nore verify {verdict.run_dir}  (run {verdict.run_id or '?'})"]
    if verdict.metrics:
        out.extend(_figure_lines(verdict))
    out.extend(f"  note: {note}" for note in verdict.notes)
    out.append(PASS if verdict.passed else f"{FAIL} ({len(verdict.reasons)} reasons)")
    out.extend(f"  {r.code}: {r.detail}" for r in verdict.reasons)
    return "\n".join(out)


def verify(
    run_dir: Path = typer.Argument(..., help="The run directory (<var>/runs/<run_id>)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict, reasons and R-N2 figures as JSON."),
) -> None:
    """Verify a run against R-Q5 and print PASS / FAIL with every reason. Exit 0 only on PASS."""
    try:
        verdict = verify_run(run_dir)
    except Exception as exc:  # unreadable run (or a bug): one clear line, exit 2, never a traceback
        if not isinstance(exc, RunUnreadable):
            exc = RunUnreadable(f"internal error verifying {run_dir}: {type(exc).__name__}: {exc}")
        if as_json:
            doc = {
                "verdict": "ERROR",
                "run_dir": str(run_dir),
                "reasons": [{"code": "RUN_UNREADABLE", "detail": str(exc)}],
            }
            typer.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        else:
            typer.echo(f"nore verify: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(orjson.dumps(verdict.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(render_text(verdict))
    raise typer.Exit(0 if verdict.passed else 1)
