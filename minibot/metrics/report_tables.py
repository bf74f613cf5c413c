"""The report's HTML tables and summary cards: headline figures, roles, trades, STOP reasons, risk refusals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from minibot.contracts.envelope import ts_iso
from minibot.metrics.latency import MODELLED_DEFINITION, PIPELINE_DEFINITION, latency_section, order_arrivals
from minibot.metrics.report_data import RunData
from minibot.metrics.report_series import percentile
from minibot.metrics.report_svg import attr
from minibot.metrics.stats import Samples, summarize
from minibot.model.portfolio import Portfolio

MAX_TRADE_ROWS = 1000


def fmt(value: Any, digits: int = 2, suffix: str = "") -> str:
    """A figure for a table cell ("-" when missing)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    return f"{value}{suffix}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], css: str = "") -> str:
    """A plain HTML table; numbers right-aligned."""
    head = "".join(f"<th>{attr(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            # A Decimal is a number already formatted to its own precision (printed as it is).
            numeric = isinstance(cell, int | float | Decimal) and not isinstance(cell, bool)
            text = fmt(cell, 6 if isinstance(cell, float) and abs(cell) < 1 else 2) if numeric else fmt(cell)
            cells.append(f'<td class="num">{attr(text)}</td>' if numeric else f"<td>{attr(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{attr(css)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def cards(items: Sequence[tuple[str, str, str]]) -> str:
    """Headline figures: (label, value, css class)."""
    parts = [
        f'<div class="card {attr(css)}"><div class="label">{attr(label)}</div>'
        f'<div class="value">{attr(value)}</div></div>'
        for label, value, css in items
    ]
    return '<div class="cards">' + "".join(parts) + "</div>"


def headline(data: RunData, pf: Portfolio | None, binance_ms: Sequence[float], latency: dict[str, Any]) -> str:
    """PnL, drawdown, trades, latencies and STOPs: metrics.json's figures, recomputed ones where it has none
    (`latency`: the section of `latency_figures`)."""
    m = data.metrics or {}
    pnl = m.get("pnl") or (
        {}
        if pf is None
        else {
            "total_pnl": pf.equity() - pf.initial_cash,
            "equity": pf.equity(),
            "quote_asset": pf.quote_asset,
            "max_drawdown_pct": pf.max_drawdown * 100,
            **pf.stats(),
        }
    )
    binance = (m.get("binance") or {}).get("latency_ms") or _quantiles(binance_ms)
    pipeline = latency["pipeline_ms"]
    stops = m.get("stops") or {}
    total = pnl.get("total_pnl")
    stop_count = stops.get("count", data.counts.get("stop_journal", 0))
    win_rate = pnl.get("win_rate")
    return cards(
        [
            ("virtual PnL", fmt(total, 2, f" {pnl.get('quote_asset', '')}"), "good" if (total or 0) >= 0 else "bad"),
            ("equity", fmt(pnl.get("equity")), ""),
            ("max drawdown", fmt(pnl.get("max_drawdown_pct"), 3, " %"), ""),
            ("round trips", fmt(pnl.get("trips")), ""),
            ("win rate", fmt(None if win_rate is None else win_rate * 100, 1, " %"), ""),
            ("R:R", fmt(pnl.get("rr")), ""),
            ("fills", fmt(data.counts.get("fills", 0)), ""),
            ("Binance p50 / p95", f"{fmt(binance.get('p50'), 1)} / {fmt(binance.get('p95'), 1)} ms", ""),
            ("pipeline latency p50 / p99", f"{fmt(pipeline.get('p50'), 1)} / {fmt(pipeline.get('p99'), 1)} ms", ""),
            ("STOPs", fmt(stop_count), "bad" if stop_count else "good"),
        ]
    )


def _quantiles(values: Sequence[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95)} if values else {}


def latency_figures(data: RunData) -> dict[str, Any]:
    """metrics.json's `latency` section; recomputed from the run's events when it has none (no metrics.json,
    or one written before the pipeline and modelled latencies were apart)."""
    recorded = (data.metrics or {}).get("latency") or {}
    if "pipeline_ms" in recorded and "modelled_ms" in recorded:
        return dict(recorded)
    timings: dict[str, Samples] = {}
    for event in data.events.get("timing", []):
        timings.setdefault(str(event["payload"]["kind"]), Samples()).add(float(event["payload"]["latency_ms"]))
    intents = ({"id": i, "ts": ts} for i, ts in data.decided_ts.items())
    arrivals = order_arrivals(intents, data.events.get("order_results", []))
    configured = (data.config.get("execution") or {}).get("latency_ms")
    return latency_section({k: v.summary() for k, v in timings.items()}, summarize(arrivals), configured)


def latency_table(latency: dict[str, Any]) -> str:
    """The pipeline latency (wall clock) and the modelled order latency (market time), one row each."""
    pipe, modelled = latency["pipeline_ms"], latency["modelled_ms"]
    observed = modelled["observed"]
    stats = ("count", "p50", "p95", "p99", "max")
    rows = [
        ["pipeline: tick receipt -> fill durable", "wall", "-", *(fmt(pipe.get(k), 1) for k in stats)],
        [
            "modelled: order decision -> arrival at the book",
            "market",
            fmt(modelled.get("configured")),
            *(fmt(observed.get(k), 1) for k in stats),
        ],
    ]
    notes = (
        f'<p class="note">pipeline: {attr(pipe.get("definition", PIPELINE_DEFINITION))}.<br>'
        f"modelled: {attr(modelled.get('definition', MODELLED_DEFINITION))}.</p>"
    )
    return table(["latency (ms)", "clock", "configured", "count", "p50", "p95", "p99", "max"], rows) + notes


def roles_table(data: RunData, lane_stats: dict[str, dict[str, Any]]) -> str:
    """Per role: heartbeats, restarts, uptime, last state (metrics.json's view when present)."""
    recorded = (data.metrics or {}).get("roles") or {}
    rows = []
    for role in sorted(set(recorded) | set(lane_stats)):
        r, s = recorded.get(role, {}), lane_stats.get(role, {})
        rows.append(
            [
                role,
                r.get("heartbeats", s.get("heartbeats")),
                r.get("restarts", s.get("restarts")),
                r.get("alive_pct"),
                r.get("max_gap_s"),
                r.get("last_state", s.get("last_state")),
                ", ".join(f"{k} {v}" for k, v in sorted((r.get("states") or s.get("states") or {}).items())),
            ]
        )
    return table(["role", "heartbeats", "restarts", "alive %", "max gap s", "last state", "states seen"], rows)


def slippage_bps(side: str, price: float, mid: float | None) -> float | None:
    """Paper slippage of a fill in bps against the mid at decision time; positive = worse than that mid
    (a BUY above it, a SELL below it). None when the decision's quote is unknown."""
    if mid is None or mid <= 0:
        return None
    return round((price - mid) / mid * 1e4 * (1 if side == "BUY" else -1), 3)


def _two_places(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(f"{value:.2f}")


def trades_table(data: RunData, trip_pnl: dict[str, float]) -> str:
    """Every fill with its paper slippage and the round-trip PnL it closed (the first and last
    MAX_TRADE_ROWS / 2 when there are more)."""
    fills = data.events.get("fills", [])
    if not fills:
        return '<p class="note">No fills in this run.</p>'
    half = MAX_TRADE_ROWS // 2
    shown = fills if len(fills) <= MAX_TRADE_ROWS else fills[:half] + fills[-half:]
    rows = []
    for event in shown:
        p = event["payload"]
        rows.append(
            [
                ts_iso(event["ts"]).replace("T", " ").removesuffix("Z"),
                p["symbol"],
                p["side"],
                p["qty"],
                p["price"],
                p["qty"] * p["price"],
                p["fee"],
                p["liquidity"],
                _two_places(slippage_bps(p["side"], p["price"], data.decision_mid.get(p["client_order_id"]))),
                trip_pnl.get(event["id"]),
                p["client_order_id"],
            ]
        )
    note = (
        ""
        if len(fills) == len(shown)
        else f'<p class="note">{len(fills)} fills; the first and last {half} are listed.</p>'
    )
    headers = [
        "time (UTC)",
        "symbol",
        "side",
        "qty",
        "price",
        "notional",
        "fee",
        "liquidity",
        "slippage bps vs decision mid",
        "trip PnL",
        "client order id",
    ]
    return note + table(headers, rows, "trades")


def stop_table(data: RunData) -> str:
    """STOP reasons: count, injected, components, first time and detail."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in data.events.get("stop_journal", []):
        grouped[event["payload"]["reason_code"]].append(event)
    if not grouped:
        return '<p class="note good">No STOP in this run.</p>'
    rows = []
    for code in sorted(grouped):
        events = grouped[code]
        first = events[0]
        rows.append(
            [
                code,
                len(events),
                sum(1 for e in events if e["payload"].get("injected")),
                ", ".join(sorted({e["payload"]["component"] for e in events})),
                ts_iso(first["ts"]),
                first["payload"]["detail"],
            ]
        )
    return table(["reason code", "count", "injected", "components", "first (UTC)", "first detail"], rows, "stops")


def rejects_table(data: RunData) -> str:
    """Risk actions by action and reason code."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for event in data.events.get("risk_actions", []):
        p = event["payload"]
        counts[(p["action"], p["reason_code"])] += 1
    if not counts:
        return '<p class="note">No risk refusals.</p>'
    return table(["action", "reason code", "count"], [[a, c, n] for (a, c), n in sorted(counts.items())])


def ai_table(data: RunData) -> str:
    """Model events per action and the AI block of metrics.json (its scalar figures)."""
    counts: dict[str, int] = defaultdict(int)
    for event in data.model_events:
        counts[event["payload"]["action"]] += 1
    figures = (data.metrics or {}).get("ai") or {}
    rows: list[list[Any]] = [[f"model events {action}", n] for action, n in sorted(counts.items())]
    rows += [[key, value] for key, value in sorted(figures.items()) if not isinstance(value, dict | list)]
    rows.append(["ai_recommendations published", data.counts.get("ai_recommendations", 0)])
    return table(["figure", "value"], rows)
