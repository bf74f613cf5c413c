"""Risk core: `signal` -> `order_intent` or `risk_action` REJECT; a breached account -> STOP (R-K1..K4, R-T5).

Inputs: `signal` (strategy_role), `fill` and `order_result` (execution_role), `market_tick` (market_role).
- market_tick: remembers the symbol's last tick time; when a position is held, marks it at the mid and
  checks the loss / drawdown limits (a breach is a STOP).
- fill: books it in the risk view of the portfolio (the same `Portfolio` the executor keeps, rebuilt from
  the same fills), updates the loss streak, checks the limits. A fill the risk layer never ordered, or one
  the portfolio finds inconsistent (e.g. selling more than held), is a STOP (RISK_INCONSISTENT).
- order_result: forgets an order once it is final (FILLED / REJECTED / EXPIRED).
- signal: the checks below, in this order; the first that fails is a REJECT naming it (RejectCode):
  halted (KILL_SWITCH), data age (STALE_MARKET_DATA), spread (MAX_SPREAD), SELL without free position
  (NO_POSITION), frequency (MAX_TRADES_PER_WINDOW, MIN_GAP_PER_SYMBOL), BUY only: cooldown, sizing and
  filters (FILTER_*), order / position / exposure / cash / loss / drawdown limits (`limits.py`).
  Then: `order_intent` with client_order_id = "nore-" + the first 24 hex digits of the signal's id, and
  `tick_id` = the signal's `cause_id` (the market tick that triggered it).
STOP = `risk_action` STOP + `stop_journal` (component risk_role); the runner also writes STOP.flag. After
it the core is halted and REJECTs every signal with KILL_SWITCH. The operator kill switch (STOP.flag
present) is a file the core cannot see: the runner checks it and calls `halt(reason)`.
Time is event ts. "now" = the largest ts seen; a signal older than `max_data_age_ms` relative to now, or
(for a BUY) any held symbol whose last tick is that old, is stale. UTC days start at ts // 86_400_000.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.contracts.core import Output
from minibot.model.config import RiskConfig
from minibot.model.filters import SymbolFilters, to_decimal
from minibot.model.portfolio import Portfolio
from minibot.reasons import ContractViolation, ReasonCode, RejectCode, RiskBreach
from minibot.risk.limits import FrequencyGuard, LossCooldown, Refusal, breach, entry_checks
from minibot.risk.sizing import size_order
from minibot.rolenames import Role
from minibot.sectionview import build_view

DAY_MS = 86_400_000
FINAL_RESULTS = frozenset(("FILLED", "REJECTED", "EXPIRED"))


class _Pending:
    __slots__ = ("decided_ts", "notional", "qty", "side", "symbol")

    def __init__(self, symbol: str, side: str, qty: float, notional: float, decided_ts: int) -> None:
        self.symbol, self.side, self.qty, self.notional = symbol, side, qty, notional
        self.decided_ts = decided_ts  # the order_intent's ts: the executor puts it on the book latency_ms later


class RiskCore:
    """Consumes `signal`, `fill`, `order_result`, `market_tick`; emits `order_intent`, `risk_action`,
    `stop_journal`."""

    def __init__(
        self, cfg: Mapping[str, Any], initial_cash: float, filters: Mapping[str, SymbolFilters] | None = None
    ) -> None:
        """`cfg`: the `risk` config section; `initial_cash`: the paper account (execution.initial_cash);
        `filters`: exchangeInfo filters, to size orders on the exchange grid (optional)."""
        self.limits = build_view(RiskConfig, cfg)
        self.portfolio = Portfolio(initial_cash)
        self._filters = dict(filters or {})
        self._freq = FrequencyGuard(self.limits)
        self.cooldown = LossCooldown(self.limits)
        self._tick_ts: dict[str, int] = {}
        self._pending: dict[str, _Pending] = {}
        self._issued: set[str] = set()
        self._now = 0
        self._day_end = -1
        self.day_start_equity = float(initial_cash)
        self.halted: str | None = None

    def halt(self, reason: str) -> None:
        """The runner saw STOP.flag (operator kill switch): every later signal is REJECTed (KILL_SWITCH)."""
        if self.halted is None:
            self.halted = reason

    @property
    def open_orders(self) -> int:
        """Orders issued whose final order_result has not come back (the executor may still act on them)."""
        return len(self._pending)

    def open_order_decisions(self) -> list[tuple[str, int]]:
        """(symbol, market time of the decision: the order_intent's `ts`) of every open order. The executor can
        act on an order only once `execution.latency_ms` has passed since its decision."""
        return [(p.symbol, p.decided_ts) for p in self._pending.values()]

    def step(self, event: Mapping[str, Any]) -> list[Output]:
        """Apply one envelope."""
        etype = event["type"]
        ts = event["ts"]
        if ts > self._now:
            self._now = ts
            if ts >= self._day_end:
                # A new UTC day: its loss limit counts from the equity at its first event.
                self._day_end = (ts // DAY_MS + 1) * DAY_MS
                self.day_start_equity = self.portfolio.equity()
        if etype == "market_tick":
            p = event["payload"]
            sym = p["symbol"]
            self._tick_ts[sym] = ts
            if sym in self.portfolio.positions and self.halted is None:
                equity = self.portfolio.mark(sym, (p["bid"] + p["ask"]) * 0.5)
                return self._check_breach(equity, event)
            return []
        if etype == "signal":
            return self._on_signal(event)
        if etype == "fill":
            return self._on_fill(event)
        if etype == "order_result":
            return self._on_result(event)
        raise ContractViolation(f"risk core does not consume {etype!r}", ReasonCode.TYPE_NOT_ALLOWED_ON_QUEUE)

    def _check_breach(self, equity: float, event: Mapping[str, Any]) -> list[Output]:
        found = breach(self.limits, self.portfolio, equity, self.day_start_equity)
        if found is None:
            return []
        return self._stop(found[0], found[1], event)

    def _stop(self, code: ReasonCode, detail: str, event: Mapping[str, Any]) -> list[Output]:
        if self.halted is not None:
            return []
        self.halted = code.value
        cause = str(event["id"])
        return [
            Output(
                "risk_action",
                {"action": "STOP", "reason_code": code.value, "detail": detail, "cause_id": cause},
            ),
            Output(
                "stop_journal",
                {"component": Role.RISK.value, "reason_code": code.value, "detail": detail, "cause_id": cause},
            ),
        ]

    def _on_fill(self, event: Mapping[str, Any]) -> list[Output]:
        fill = event["payload"]
        coid = fill["client_order_id"]
        if coid not in self._issued:
            return self._stop(ReasonCode.RISK_INCONSISTENT, f"fill for unknown client_order_id {coid}", event)
        try:
            trip_pnl = self.portfolio.apply_fill(fill)
        except RiskBreach as exc:
            return self._stop(exc.reason_code, exc.detail, event)
        pending = self._pending.get(coid)
        if pending is not None:
            pending.notional = max(0.0, pending.notional - float(fill["qty"]) * float(fill["price"]))
            pending.qty = max(0.0, round(pending.qty - float(fill["qty"]), 8))
        if trip_pnl is not None:
            self.cooldown.on_round_trip(trip_pnl, int(event["ts"]))
        if self.halted is not None:
            return []
        return self._check_breach(self.portfolio.equity(), event)

    def _on_result(self, event: Mapping[str, Any]) -> list[Output]:
        result = event["payload"]
        coid = result["client_order_id"]
        if coid not in self._issued:
            return self._stop(ReasonCode.RISK_INCONSISTENT, f"order_result for unknown client_order_id {coid}", event)
        if result["result"] in FINAL_RESULTS:
            self._pending.pop(coid, None)
        return []

    def _pending_buys(self, symbol: str) -> tuple[float, float]:
        per_symbol = total = 0.0
        for p in self._pending.values():
            if p.side == "BUY":
                total += p.notional
                if p.symbol == symbol:
                    per_symbol += p.notional
        return per_symbol, total

    def _free_qty(self, symbol: str) -> float:
        pending = sum(p.qty for p in self._pending.values() if p.side == "SELL" and p.symbol == symbol)
        return round(self.portfolio.position_qty(symbol) - pending, 8)

    def _reject(self, code: RejectCode, detail: str, event: Mapping[str, Any]) -> list[Output]:
        sig = event["payload"]
        return [
            Output(
                "risk_action",
                {
                    "action": "REJECT",
                    "reason_code": code.value,
                    "detail": detail,
                    "cause_id": str(event["id"]),
                    "symbol": sig["symbol"],
                    "side": sig["side"],
                },
            )
        ]

    def _refusal(self, event: Mapping[str, Any]) -> Refusal | None:
        """The first general check (before sizing) that refuses this signal."""
        sig, ts, lim = event["payload"], int(event["ts"]), self.limits
        sym, side = sig["symbol"], sig["side"]
        if self.halted is not None:
            return RejectCode.KILL_SWITCH, f"risk core halted: {self.halted}"
        if self._now - ts > lim.max_data_age_ms:
            return (
                RejectCode.STALE_MARKET_DATA,
                f"signal is {self._now - ts} ms old > {lim.max_data_age_ms} ms",
            )
        if side == "BUY":
            for held in self.portfolio.positions:
                age = self._now - self._tick_ts.get(held, -(10**15))
                if age > lim.max_data_age_ms:
                    return (
                        RejectCode.STALE_MARKET_DATA,
                        f"{held} mark is {age} ms old > {lim.max_data_age_ms} ms",
                    )
        bid, ask = float(sig["bid"]), float(sig["ask"])
        spread_bps = (ask - bid) / ((ask + bid) / 2.0) * 10_000.0 if bid > 0 and ask >= bid else float("inf")
        if spread_bps > lim.max_spread_bps:
            return RejectCode.MAX_SPREAD, f"spread {spread_bps:.4f} bps > {lim.max_spread_bps} bps"
        if side == "SELL" and self._free_qty(sym) <= 0:
            return RejectCode.NO_POSITION, f"no free {sym} position to sell (long-only spot)"
        found = self._freq.check(sym, ts)
        if found is None and side == "BUY":
            found = self.cooldown.check(ts)
        return found

    def _on_signal(self, event: Mapping[str, Any]) -> list[Output]:
        refusal = self._refusal(event)
        if refusal is not None:
            return self._reject(refusal[0], refusal[1], event)
        sig, ts = event["payload"], int(event["ts"])
        sym, side = sig["symbol"], sig["side"]
        filters = self._filters.get(sym)
        sized = size_order(side, self.limits, self.portfolio.equity(), sig, self._free_qty(sym), filters)
        if sized.qty <= 0 or sized.notional <= 0:
            return self._reject(RejectCode.FILTER_LOT_SIZE, f"sized qty {sized.qty} rounds to nothing", event)
        if filters is not None:
            market = sized.order_type == "MARKET"
            found = filters.check_qty(to_decimal(sized.qty), market) or filters.check_notional(
                to_decimal(sized.notional), market
            )
            if found is not None:
                return self._reject(found[0], found[1], event)
        if side == "BUY":
            per_symbol, total = self._pending_buys(sym)
            found = entry_checks(
                self.limits, self.portfolio, sym, sized.notional, per_symbol, total, self.day_start_equity
            )
            if found is not None:
                return self._reject(found[0], found[1], event)
        cause = str(event["id"])
        coid = "nore-" + cause.replace("-", "")[:24]
        intent: dict[str, Any] = {
            "symbol": sym,
            "side": side,
            "qty": sized.qty,
            "order_type": sized.order_type,
            "client_order_id": coid,
            "notional": sized.notional,
            "cause_id": cause,
            # The market tick behind the signal, so the executor's runner can time tick -> fill (wall clock).
            "tick_id": sig["cause_id"],
            "bid": sig["bid"],
            "ask": sig["ask"],
            "bid_qty": sig["bid_qty"],
            "ask_qty": sig["ask_qty"],
        }
        if sized.order_type == "LIMIT":
            intent["price"] = sized.price
        self._freq.record(sym, ts)
        self._issued.add(coid)
        self._pending[coid] = _Pending(sym, side, sized.qty, sized.notional, ts)
        return [Output("order_intent", intent)]
