"""The live view of `nore run`: drawn from each metrics.json document the collector writes.

On a terminal (rich): a progress bar over the planned duration with the wall-clock ETA, a table of roles
(state, pid, uptime, restarts, last heartbeat), Binance latency p50/p95 and state, event counts and rates,
equity and drawdown, and the last STOP. When stdout is not a terminal (a log file, a pipe, a Windows
service wrapper): one plain status line every `interval_s` seconds, so logs stay readable. `quiet`: nothing.

The supervisor calls (from the console's writer thread, minibot.watchdog.console: a blocked console
must not hold up supervision):

    dash = Dashboard(run_dir, duration_ms, quiet=False, is_terminal=sys.stdout.isatty())
    dash.update(metrics)   # each metrics.json document (a dict), as often as it likes
    dash.close()           # at the end: the terminal view stays, the plain mode prints a last line
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from minibot.journal.atomic import read_critical_json
from minibot.reasons import NoreError
from minibot.rolenames import Role
from minibot.runlayout import RUN_FILE

RATE_QUEUES = ("market_ticks", "signals", "order_intents", "fills", "health", "stop_journal")
STATE_STYLE = {"OK": "green", "STARTING": "cyan", "DEGRADED": "yellow", "DOWN": "red", "STOPPING": "dim"}


def hms(seconds: float | None) -> str:
    """`1h02m03s` (or `-`)."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    return f"{total // 3600}h{total % 3600 // 60:02d}m{total % 60:02d}s"


def num(value: Any, digits: int = 1) -> str:
    """A figure or `-`."""
    return "-" if not isinstance(value, int | float) or isinstance(value, bool) else f"{value:,.{digits}f}"


class Dashboard:
    """Renders metrics documents for the operator; see the module docstring for the modes."""

    def __init__(
        self,
        run_dir: Path,
        duration_ms: int,
        *,
        quiet: bool = False,
        is_terminal: bool | None = None,
        interval_s: float = 10.0,
        console: Console | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.duration_ms = max(1, int(duration_ms))
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stdout
        self.is_terminal = self.stream.isatty() if is_terminal is None else is_terminal
        self.interval_s = interval_s
        self.clock = clock
        self.speed, self.run_id = self._run_info(Path(run_dir))
        self.console = console if console is not None else Console(file=self.stream)
        self._live: Live | None = None
        self._last: Mapping[str, Any] | None = None
        self._prev: tuple[float, dict[str, int]] | None = None  # (elapsed_s, counts) of the previous update
        self.rates: dict[str, float] = {}
        self._next_line = 0.0

    @staticmethod
    def _run_info(run_dir: Path) -> tuple[float, str]:
        try:
            run = read_critical_json(run_dir / RUN_FILE)
            return float(run["clock"]["speed"]), str(run["run_id"])
        except (OSError, NoreError, KeyError, TypeError, ValueError):
            # The dashboard only decorates; the supervisor has already checked run.json.
            return 1.0, run_dir.name

    # ---- state -----------------------------------------------------------------------------------
    def update(self, metrics: Mapping[str, Any]) -> None:
        """Take a new metrics document and redraw (terminal) or print a line when one is due (plain)."""
        if self.quiet:
            return
        self._track_rates(metrics)
        self._last = metrics
        if self.is_terminal:
            if self._live is None:
                # No stdout redirection: whatever else prints must not go through a view that may be blocked.
                self._live = Live(
                    self.render(metrics),
                    console=self.console,
                    auto_refresh=False,
                    transient=False,
                    redirect_stdout=False,
                    redirect_stderr=False,
                )
                self._live.start()
            self._live.update(self.render(metrics), refresh=True)
        elif self.clock() >= self._next_line:
            self._next_line = self.clock() + self.interval_s
            self._print_line(metrics)

    def close(self) -> None:
        """Leave the final view on screen, or print the final status line."""
        if self.quiet:
            return
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self._last is not None and not self.is_terminal:
            self._print_line(self._last)

    def _track_rates(self, metrics: Mapping[str, Any]) -> None:
        elapsed = float(metrics.get("elapsed_s") or 0.0)
        counts = {k: int(v) for k, v in (metrics.get("counts") or {}).items()}
        if self._prev is not None and elapsed > self._prev[0]:
            span_min = (elapsed - self._prev[0]) / 60.0
            self.rates = {k: (v - self._prev[1].get(k, 0)) / span_min for k, v in counts.items()}
        if self._prev is None or elapsed > self._prev[0]:
            self._prev = (elapsed, counts)

    # ---- figures shared by both modes ---------------------------------------------------------------
    def progress(self, metrics: Mapping[str, Any]) -> tuple[float, float, float | None]:
        """(fraction done, elapsed run-clock s, wall-clock s left or None)."""
        elapsed = float(metrics.get("elapsed_s") or 0.0)
        done = min(1.0, elapsed * 1000.0 / self.duration_ms)
        left = max(0.0, self.duration_ms / 1000.0 - elapsed) / self.speed if self.speed > 0 else None
        return done, elapsed, left

    @staticmethod
    def last_stop(metrics: Mapping[str, Any]) -> str:
        """`REASON (component): detail` of the newest STOP, or `none`."""
        events = (metrics.get("stops") or {}).get("events") or []
        if not events:
            return "none"
        last = events[-1]
        injected = " [injected]" if last.get("injected") else ""
        return f"{last.get('reason_code')} ({last.get('component')}){injected}: {last.get('detail')}"

    @staticmethod
    def money(metrics: Mapping[str, Any]) -> tuple[str, str]:
        """(`equity (pnl)`, `drawdown now / max`) texts."""
        pnl = metrics.get("pnl") or {}
        equity, peak = pnl.get("equity"), pnl.get("peak_equity")
        now_dd = (peak - equity) / peak * 100.0 if isinstance(equity, float | int) and peak else None
        total = pnl.get("total_pnl")
        sign = "+" if isinstance(total, int | float) and total >= 0 else ""
        eq_text = f"{num(equity, 2)} {pnl.get('quote_asset', '')} ({sign}{num(total, 2)})"
        return eq_text, f"{num(now_dd, 2)} % now, {num(pnl.get('max_drawdown_pct'), 2)} % max"

    @staticmethod
    def binance(metrics: Mapping[str, Any]) -> tuple[str, str]:
        """(Binance state, `p50 / p95 ms, errors`)."""
        b = metrics.get("binance") or {}
        lat = b.get("latency_ms") or {}
        state = ((metrics.get("roles") or {}).get(Role.HEALTH.value) or {}).get("last_state") or "-"
        rate = b.get("error_rate")
        errors = f"{b.get('errors', 0)} errors ({num(None if rate is None else rate * 100, 2)} %)"
        return str(state), f"p50 {num(lat.get('p50'))} / p95 {num(lat.get('p95'))} ms, {errors}"

    # ---- plain mode ----------------------------------------------------------------------------------
    def status_line(self, metrics: Mapping[str, Any]) -> str:
        """One line with every headline figure (the non-terminal mode)."""
        done, elapsed, left = self.progress(metrics)
        roles = metrics.get("roles") or {}
        ok = sum(1 for r in roles.values() if r.get("last_state") == "OK")
        restarts = sum(int(r.get("restarts") or 0) for r in roles.values())
        counts = metrics.get("counts") or {}
        state, latency = self.binance(metrics)
        equity, drawdown = self.money(metrics)
        events = " ".join(
            f"{q} {counts.get(q, 0)} ({num(self.rates.get(q), 0)}/min)" for q in ("market_ticks", "signals", "fills")
        )
        return (
            f"[nore {self.run_id} {metrics.get('now_iso', '-')}] {done * 100:.1f}% {hms(elapsed)}/"
            f"{hms(self.duration_ms / 1000)} ETA {hms(left)} | roles {ok}/{len(roles)} OK, {restarts} restarts | "
            f"binance {state} {latency} | {events} | equity {equity}, drawdown {drawdown} | "
            f"last STOP {self.last_stop(metrics)}"
        )

    def _print_line(self, metrics: Mapping[str, Any]) -> None:
        self.stream.write(self.status_line(metrics) + "\n")
        self.stream.flush()

    # ---- terminal mode -------------------------------------------------------------------------------
    def render(self, metrics: Mapping[str, Any]) -> Group:
        """The rich view."""
        done, elapsed, left = self.progress(metrics)
        head = Text.assemble(
            (f"NORE run {self.run_id}  ", "bold"),
            f"{done * 100:5.1f}%  {hms(elapsed)} of {hms(self.duration_ms / 1000)} run clock  ",
            (f"ETA {hms(left)} wall", "cyan"),
            f"  (speed {self.speed:g})",
        )
        bar = ProgressBar(total=1.0, completed=done, width=None)
        state, latency = self.binance(metrics)
        equity, drawdown = self.money(metrics)
        stop = self.last_stop(metrics)
        facts = Table.grid(padding=(0, 2))
        facts.add_row("Binance", Text(state, style=STATE_STYLE.get(state, "")), latency)
        facts.add_row("Equity", equity, f"drawdown {drawdown}")
        facts.add_row("Last STOP", Text(stop, style="green" if stop == "none" else "bold red"), "")
        return Group(head, bar, self._roles_table(metrics), self._counts_table(metrics), facts)

    @staticmethod
    def _roles_table(metrics: Mapping[str, Any]) -> Table:
        table = Table(title=None, expand=False, pad_edge=False)
        for column in ("role", "state", "pid", "uptime", "restarts", "heartbeats", "last beat"):
            table.add_column(column, justify="left" if column in ("role", "state") else "right")
        for name, r in sorted((metrics.get("roles") or {}).items()):
            state = str(r.get("last_state") or "-")
            table.add_row(
                name,
                Text(state, style=STATE_STYLE.get(state, "")),
                str(r.get("pid") or r.get("last_pid") or "-"),
                hms(r.get("uptime_s")),
                str(r.get("restarts", r.get("restarts_seen", 0))),
                str(r.get("heartbeats", 0)),
                f"{num(r.get('since_last_heartbeat_s'))} s ago",
            )
        return table

    def _counts_table(self, metrics: Mapping[str, Any]) -> Table:
        counts = metrics.get("counts") or {}
        table = Table(expand=False, pad_edge=False)
        table.add_column("events")
        for queue in RATE_QUEUES:
            table.add_column(queue, justify="right")
        table.add_row("count", *(f"{counts.get(q, 0):,}" for q in RATE_QUEUES))
        table.add_row("per min", *(num(self.rates.get(q), 0) for q in RATE_QUEUES))
        return table
