"""`nore verify`, part 2: what the run did (R-Q5): critical files, liveness, Binance, orders, STOPs, PnL.

Each check appends its failures to a `Reasons`; definitions of the figures are in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from minibot.config.views import MetricsConfig
from minibot.journal.atomic import read_critical_json
from minibot.journal.console_record import console_ending
from minibot.journal.layout import INBOX
from minibot.journal.reader import decode_event, iter_lines
from minibot.market.rest import FORBIDDEN_PARAMS, PUBLIC_PATHS
from minibot.metrics.pnl import Fill, PnlTracker, Tick, compare_figures, fill_of, tick_of
from minibot.metrics.tail import JournalTail
from minibot.metrics.verdict import Reasons
from minibot.model.config import ExecutionConfig
from minibot.reasons import NoreError, ReasonCode, VerifyCode
from minibot.runlayout import (
    METRICS_FILE,
    REQUESTS_DIR,
    REQUESTS_STEM,
    SIM_STATS_FILE,
    STOP_FLAG,
    VERIFIED_CRITICAL_FILES,
)


def read_critical(path: Path, reasons: Reasons) -> Any:
    """A critical JSON file's data, or None after recording why it cannot be trusted."""
    try:
        return read_critical_json(path)
    except NoreError as exc:
        reasons.add(exc.reason_code.value, exc.detail)
    except OSError as exc:
        reasons.add(ReasonCode.NON_ATOMIC_WRITE.value, f"{path}: cannot be read ({exc})")
    return None


def check_critical_files(run_dir: Path, reasons: Reasons) -> None:
    """Every critical JSON file of the run (runlayout.VERIFIED_CRITICAL_FILES) is whole and matches its own sha256."""
    for critical in VERIFIED_CRITICAL_FILES:
        found = sorted(run_dir.glob(critical.pattern))
        if critical.required and not found:
            reasons.add(VerifyCode.CRITICAL_FILE_MISSING.value, f"{run_dir / critical.pattern} does not exist")
        for path in found:
            read_critical(path, reasons)


def check_liveness(
    roles: Mapping[str, Mapping[str, Any]],
    expected: set[str],
    start_ms: int,
    duration_ms: int,
    silent_ms: float,
    first_stop_ms: int | None,
    reasons: Reasons,
) -> None:
    """Every role heartbeated for the whole run, or was restored (a new process) after going silent.

    `roles`: metrics' per-role figures (from the health journal). The run's end is the last heartbeat of
    any role, or the first STOP (roles halt on it). A role whose last heartbeat is STOPPING ended cleanly;
    a gap that starts once the planned end is near (within the silence threshold) and ends in that same
    process's final STOPPING beat is the run winding down (roles drain and exit stage by stage), not silence.
    """
    beats = {name: r for name, r in roles.items() if r.get("heartbeats")}
    if not beats:
        reasons.add(VerifyCode.ROLE_SILENT.value, "no role ever sent a heartbeat")
        return
    end_ms = max(int(r["last_heartbeat_ms"]) for r in beats.values())
    if first_stop_ms is not None:
        end_ms = min(end_ms, first_stop_ms)
    for name in sorted(expected - set(beats)):
        reasons.add(VerifyCode.ROLE_SILENT.value, f"{name} never sent a heartbeat")
    planned_end = start_ms + duration_ms
    for name, r in sorted(beats.items()):
        for gap in r.get("gaps", []):
            winding_down = (
                gap["from_ms"] >= planned_end - silent_ms
                and gap["to_ms"] == r["last_heartbeat_ms"]
                and r.get("last_state") == "STOPPING"
            )
            if not gap["restored"] and not winding_down and (first_stop_ms is None or gap["from_ms"] < first_stop_ms):
                reasons.add(
                    VerifyCode.ROLE_SILENT.value,
                    f"{name} sent no heartbeat for {gap['gap_s']:.1f} s (run clock {gap['from_ms']}..{gap['to_ms']}) "
                    f"and was not restarted (silent after {silent_ms / 1000:g} s)",
                )
        tail = end_ms - int(r["last_heartbeat_ms"])
        if tail > silent_ms and r.get("last_state") != "STOPPING":
            reasons.add(
                VerifyCode.ROLE_SILENT.value,
                f"{name}: last heartbeat {tail / 1000:.1f} s before the end of the run, and not a clean STOPPING",
            )
    if first_stop_ms is None and end_ms < start_ms + duration_ms - silent_ms:
        reasons.add(
            VerifyCode.RUN_ENDED_EARLY.value,
            f"the last heartbeat is {(end_ms - start_ms) / 1000:.1f} s into the run, the run was to last "
            f"{duration_ms / 1000:.1f} s (duration_ms), and no STOP explains it",
        )


def check_binance(binance: Mapping[str, Any], metrics_cfg: MetricsConfig, reasons: Reasons) -> None:
    """Latency p95 and error share of the requests NORE sent, against metrics.max_latency_p95_ms / max_error_rate."""
    if not binance["requests"]:
        reasons.add(VerifyCode.BINANCE_NOT_MEASURED.value, "market/requests.jsonl holds no request")
        return
    p95 = binance["latency_ms"]["p95"]
    limit = metrics_cfg.max_latency_p95_ms
    if p95 is None:
        reasons.add(VerifyCode.BINANCE_NOT_MEASURED.value, f"none of the {binance['requests']} requests got an answer")
    elif p95 > limit:
        reasons.add(
            VerifyCode.BINANCE_LATENCY_HIGH.value,
            f"Binance latency p95 {p95:.1f} ms (wall clock) > metrics.max_latency_p95_ms {limit:g}",
        )
    rate, max_rate = float(binance["error_rate"]), metrics_cfg.max_error_rate
    if rate > max_rate:
        reasons.add(
            ReasonCode.BINANCE_ERROR_RATE.value,
            f"{binance['errors']} of {binance['requests']} requests failed ({rate:.1%}) > metrics.max_error_rate "
            f"{max_rate:.1%}",
        )


def order_problem(payload: Mapping[str, Any]) -> str | None:
    """Why a logged request was not a public market-data GET, or None."""
    method, path, query = payload.get("method"), str(payload.get("path")), str(payload.get("query") or "")
    if method != "GET":
        return f"method {method!r}"
    if path not in PUBLIC_PATHS:
        return f"path {path} is not a public market-data endpoint"
    params = {part.split("=", 1)[0] for part in query.split("&") if part}
    if params & FORBIDDEN_PARAMS:
        return f"signed-request parameters {sorted(params & FORBIDDEN_PARAMS)} in {path}?{query}"
    return None


def check_no_orders(run_dir: Path, reasons: Reasons) -> None:
    """No order request was ever sent: the client's own request log, and the simulator's violations."""
    folder = run_dir / REQUESTS_DIR
    if not (folder / f"{REQUESTS_STEM}.jsonl").exists():
        reasons.add(
            VerifyCode.REQUEST_LOG_MISSING.value,
            f"{folder / REQUESTS_STEM}.jsonl does not exist: no proof of which requests were sent",
        )
    else:
        tail = JournalTail(folder, REQUESTS_STEM, strict=False)
        for n, event in enumerate(tail.events(), start=1):
            problem = order_problem(event["payload"]) if event["type"] == "http_request" else None
            if problem is not None:
                reasons.add(
                    ReasonCode.ORDER_ENDPOINT_CALLED.value, f"{folder / REQUESTS_STEM}.jsonl event {n}: {problem}"
                )
    stats_path = run_dir / SIM_STATS_FILE
    if stats_path.exists():
        stats = read_critical(stats_path, reasons)
        if isinstance(stats, Mapping):
            violations, total = stats.get("violations"), stats.get("violations_total")
            if not isinstance(violations, list) or not isinstance(total, int):
                reasons.add(
                    ReasonCode.ORDER_ENDPOINT_CALLED.value, f"{stats_path}: no 'violations' list / 'violations_total'"
                )
                return
            for v in violations:
                reasons.add(ReasonCode.ORDER_ENDPOINT_CALLED.value, f"simulator recorded a violation: {v}")
            if total > len(violations):
                reasons.add(
                    ReasonCode.ORDER_ENDPOINT_CALLED.value,
                    f"simulator counted {total} violations ({total - len(violations)} beyond those it kept)",
                )


def check_cause(run_dir: Path, queues_dir: Path, reasons: Reasons) -> None:
    """What cut the night short, named first: the machine slept (MACHINE_SUSPENDED: the STOPs after it follow
    from it) or the console was closed / the user logged off / Ctrl+Break (RUN_ENDED_BY_CONSOLE)."""
    for event in JournalTail(queues_dir / "stop_journal", INBOX, strict=False).events():
        p = event["payload"]
        if p.get("reason_code") == ReasonCode.MACHINE_SUSPENDED.value:
            reasons.add(
                ReasonCode.MACHINE_SUSPENDED.value,
                f"at {event.get('ts_iso', event['ts'])}: {p['detail']}; "
                "the other STOPs raised as the run resumed follow from it",
            )
    console = console_ending(run_dir)
    if console is not None:
        reasons.add(
            VerifyCode.RUN_ENDED_BY_CONSOLE.value,
            f"the run ended because of the console ({console.get('ended_by')}): not a full night",
        )


def check_stops(run_dir: Path, queues_dir: Path, reasons: Reasons) -> None:
    """No STOP, or only injected ones; STOP.flag, when raised, holds a journaled STOP."""
    folder = queues_dir / "stop_journal"
    ids: set[str] = set()
    for event in JournalTail(folder, INBOX, strict=False).events():
        ids.add(event["id"])
        p = event["payload"]
        if p.get("injected") is not True:
            reasons.add(
                VerifyCode.STOP_NOT_INJECTED.value,
                f"STOP {p['reason_code']} by {p['component']} at {event.get('ts_iso', event['ts'])}: {p['detail']}",
            )
    flag = run_dir / STOP_FLAG
    if flag.exists():
        held = read_critical(flag, reasons)
        if isinstance(held, Mapping) and held.get("id") not in ids:
            reasons.add(
                VerifyCode.STOP_UNJOURNALED.value, f"{flag} holds event {held.get('id')} that stop_journal lacks"
            )


def _prefix(folder: Path, lines: int) -> Iterator[dict[str, Any]]:
    """The decodable events among the first `lines` lines of a queue, one at a time."""
    for raw in islice(iter_lines(folder, INBOX), lines):
        try:
            yield decode_event(raw.data)[1]
        except NoreError:
            continue  # reported by check_integrity; the collector skipped it too


def check_metrics(
    run_dir: Path, queues_dir: Path, config: Mapping[str, Any], full: Mapping[str, Any], reasons: Reasons
) -> None:
    """metrics.json is whole, final, covers every fill and tick, and its PnL equals the recomputation."""
    path = run_dir / METRICS_FILE
    if not path.exists():
        reasons.add(VerifyCode.METRICS_MISSING.value, f"{path} does not exist")
        return
    doc = read_critical(path, reasons)
    if not isinstance(doc, Mapping):
        return
    try:
        covered = {q: int(doc["coverage"]["queues"][q]) for q in ("market_ticks", "fills")}
        recorded = doc["pnl"]
    except (KeyError, TypeError, ValueError) as exc:
        reasons.add(VerifyCode.METRICS_MISMATCH.value, f"{path}: no coverage / pnl section ({exc})")
        return
    if not doc.get("final"):
        reasons.add(VerifyCode.METRICS_INCOMPLETE.value, f"{path} is not the final write of the run")
    for queue, lines in covered.items():
        total = int(full["coverage"]["queues"][queue])
        if lines != total:
            reasons.add(VerifyCode.METRICS_INCOMPLETE.value, f"{path} covers {lines} of the {total} lines of {queue}")
    if all(lines == int(full["coverage"]["queues"][q]) for q, lines in covered.items()):
        recomputed = dict(full["pnl"])  # the figures verify just computed cover exactly the same lines
    else:
        recomputed = _pnl_of_prefix(queues_dir, config, covered)
    if "error" in recomputed:
        code, _, detail = str(recomputed["error"]).partition(": ")
        reasons.add(code, f"recomputing PnL from the fills: {detail}")
        return
    for diff in compare_figures(recorded if isinstance(recorded, dict) else {}, recomputed):
        reasons.add(VerifyCode.METRICS_MISMATCH.value, f"pnl.{diff}")


def _pnl_of_prefix(queues_dir: Path, config: Mapping[str, Any], covered: Mapping[str, int]) -> dict[str, Any]:
    """PnL figures of the first `covered[queue]` lines of market_ticks and fills."""
    ex = ExecutionConfig.from_config(config)

    def history() -> tuple[Iterator[Tick], Iterator[Fill]]:
        return (
            map(tick_of, _prefix(queues_dir / "market_ticks", covered["market_ticks"])),
            map(fill_of, _prefix(queues_dir / "fills", covered["fills"])),
        )

    tracker = PnlTracker(ex.initial_cash, ex.quote_asset, history=history)
    ticks, fills = history()
    for tick in ticks:
        tracker.add_tick(*tick)
    for fill in fills:
        tracker.add_fill(*fill)
    try:
        return tracker.figures()
    except NoreError as exc:
        return {"error": f"{exc.reason_code.value}: {exc.detail}"}
