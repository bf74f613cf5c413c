"""Paper executor core: `order_intent` -> `fill`s + `order_result`; orders reach the book after a modelled latency.

Never talks to Binance (R-X2): this package has no network code at all. Inputs:
- `order_intent` from source `risk_role` only; any other source is a STOP (`stop_journal`
  EXECUTION_SOURCE_NOT_ALLOWED) and the core halts. Fields the contract guarantees (enums, positive
  finite numbers, client id pattern) are re-checked and a violation raises ContractViolation (the runner
  STOPs); a client_order_id seen before raises too (DUPLICATE_ID), since rejecting it would be mistaken for
  the original order's result. A valid intent produces nothing yet: it is in flight.
- `market_tick`: the latest quote per symbol, marks the portfolio; then, for the tick's symbol, resting
  orders are checked (fill or expire), then every in-flight order of that symbol whose arrival time has come
  is executed against this tick's book: validation, fills or REJECTED with a RejectCode, exactly as an
  exchange would at arrival. Finally an in-flight order whose symbol showed no tick for `max_quote_age_ms`
  after its arrival time is REJECTED with STALE_MARKET_DATA (on whichever tick proves it).
Modelled latency (docs/core.md): an intent decided at market time t (its envelope `ts`, the market time of
the tick behind it) arrives at t + `latency_ms`, so it executes at the first later tick of its symbol whose
`ts` is at or after that. The decision was made after its tick was seen, so even with latency 0 it meets
the next tick, never its own. How long the file queues took never changes a price.
Outputs per order: the fills first, then the order_result (so a consumer books fills before it forgets the
order). Ids: order_id = "paper-" + the first 24 hex digits of the intent's envelope id.
`halt(reason)` (called by the runner when STOP.flag exists, which the core cannot see) freezes it:
resting orders never fill again and every order is REJECTED with KILL_SWITCH.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from minibot.contracts.core import Output
from minibot.execution.fills import Leg, bps_rate, fee_for, take_liquidity, trades_through, vwap
from minibot.model.config import ExecutionConfig
from minibot.model.filters import SymbolFilters
from minibot.model.portfolio import Portfolio
from minibot.reasons import ContractViolation, ReasonCode, RejectCode
from minibot.rolenames import Role
from minibot.sectionview import build_view

ALLOWED_SOURCE = Role.RISK.value
CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")


def acts_at(order_symbol: str, arrival_ts: int, symbol: str, now: int, max_age_ms: int) -> bool:
    """Whether the executor writes about an order (arrival time `arrival_ts` = decision ts + `latency_ms`) at a
    tick of `symbol` that brings market time to `now`: never before the arrival; after it, at a tick of the
    order's own symbol (it executes at the first one, a resting limit is checked at each), or at any tick once
    it has waited more than `max_age_ms` for one (REJECTED as stale). risk_role's schedule waits for the
    executor's watermark only at such ticks (minibot/roles/timeline_schedule.py)."""
    return arrival_ts <= now and (order_symbol == symbol or now - arrival_ts > max_age_ms)


class _Resting:
    __slots__ = ("coid", "filled", "intent", "legs", "limit", "order_id", "placed_ts", "qty", "reserved")

    def __init__(self, intent: Mapping[str, Any], order_id: str, limit: Decimal, qty: Decimal, ts: int) -> None:
        self.intent = intent
        self.coid = str(intent["client_order_id"])
        self.order_id = order_id
        self.limit = limit
        self.qty = qty  # still open
        self.placed_ts = ts
        self.legs: list[Leg] = []
        self.filled = Decimal(0)
        self.reserved = 0.0


class ExecutionCore:
    """Consumes `order_intent` and `market_tick`; emits `fill`, `order_result`, `stop_journal`."""

    def __init__(self, filters: Mapping[str, SymbolFilters], cfg: Mapping[str, Any]) -> None:
        """`filters` from `filters_from_exchange_info`; `cfg` is the `execution` config section."""
        self._filters = dict(filters)
        ex = build_view(ExecutionConfig, cfg)
        self.portfolio = Portfolio(ex.initial_cash, ex.quote_asset)
        self._taker = bps_rate(ex.taker_fee_bps)
        self._maker = bps_rate(ex.maker_fee_bps)
        self._slippage = bps_rate(ex.slippage_bps)
        self._max_age = ex.max_quote_age_ms
        self._ttl = ex.limit_ttl_ms
        self.latency_ms = ex.latency_ms
        self._book: dict[str, Mapping[str, Any]] = {}
        self._now = 0
        self._resting: dict[str, list[_Resting]] = {}
        # In-flight intents (decided, not yet at the book): (arrival ts, intent envelope), in arrival order.
        self._inflight: list[tuple[int, Mapping[str, Any]]] = []
        self._reserved_cash = 0.0
        self._reserved_qty: dict[str, float] = {}
        self._seen: set[str] = set()
        self.halted: str | None = None

    def halt(self, reason: str) -> None:
        """Freeze: no fill from now on; every order still to be executed is REJECTED with KILL_SWITCH."""
        self.halted = reason

    def last_quote(self, symbol: str) -> Mapping[str, Any] | None:
        """The payload of the latest tick of `symbol` (None before its first)."""
        return self._book.get(symbol)

    @property
    def in_flight(self) -> int:
        """Intents decided but not yet executed (they still owe an order_result)."""
        return len(self._inflight)

    @property
    def open_orders(self) -> int:
        """Orders in flight or resting on the book: the ones a later tick can fill or expire."""
        return len(self._inflight) + sum(len(orders) for orders in self._resting.values())

    def step(self, event: Mapping[str, Any]) -> list[Output]:
        """Apply one envelope."""
        etype = event["type"]
        if etype == "market_tick":
            p = event["payload"]
            sym = p["symbol"]
            ts = event["ts"]
            self._book[sym] = p
            if ts > self._now:
                self._now = ts
            if sym in self.portfolio.positions:
                self.portfolio.mark(sym, (p["bid"] + p["ask"]) * 0.5)
            out: list[Output] = []
            if sym in self._resting and self.halted is None:
                out = self._on_tick_resting(sym, event)
            if self._inflight:
                out.extend(self._arrivals(sym, event))
            return out
        if etype == "order_intent":
            return self._on_intent(event)
        raise ContractViolation(f"execution core does not consume {etype!r}", ReasonCode.TYPE_NOT_ALLOWED_ON_QUEUE)

    def _on_intent(self, event: Mapping[str, Any]) -> list[Output]:
        ev_id = str(event["id"])
        if event.get("source") != ALLOWED_SOURCE:
            self.halted = f"order_intent {ev_id} from {event.get('source')!r}"
            detail = f"order_intent {ev_id} came from {event.get('source')!r}, only {ALLOWED_SOURCE} may send them"
            return [
                Output(
                    "stop_journal",
                    {
                        "component": Role.EXECUTION.value,
                        "reason_code": ReasonCode.EXECUTION_SOURCE_NOT_ALLOWED.value,
                        "detail": detail,
                        "cause_id": ev_id,
                    },
                )
            ]
        intent = event["payload"]
        self._check_contract(intent)
        self._seen.add(str(intent["client_order_id"]))
        self._inflight.append((int(event["ts"]) + self.latency_ms, event))
        return []

    def _arrivals(self, sym: str, tick: Mapping[str, Any]) -> list[Output]:
        """Execute the in-flight orders of `sym` that have arrived by this tick; expire the ones whose symbol
        stayed silent for max_quote_age_ms after their arrival time."""
        now = self._now
        out: list[Output] = []
        keep: list[tuple[int, Mapping[str, Any]]] = []
        for due, event in self._inflight:
            symbol = event["payload"]["symbol"]
            if not acts_at(symbol, due, sym, now, self._max_age):
                keep.append((due, event))
            elif symbol == sym:
                out.extend(self._execute(event, tick))
            else:
                intent, ev_id = event["payload"], str(event["id"])
                order_id = "paper-" + ev_id.replace("-", "")[:24]
                last = f"its last {symbol} tick" if symbol in self._book else f"no {symbol} tick"
                detail = f"{now - due} ms past its arrival time, {last} since (max_quote_age_ms {self._max_age})"
                out.append(self._rejected(intent, order_id, ev_id, RejectCode.STALE_MARKET_DATA, detail))
        self._inflight = keep
        return out

    def _execute(self, event: Mapping[str, Any], tick: Mapping[str, Any]) -> list[Output]:
        """The order reaches the book this tick shows: validate, take liquidity, rest the remainder."""
        intent, ev_id = event["payload"], str(event["id"])
        order_id = "paper-" + ev_id.replace("-", "")[:24]
        if self.halted is not None:
            return [self._rejected(intent, order_id, ev_id, RejectCode.KILL_SWITCH, f"halted: {self.halted}")]
        f = self._filters.get(intent["symbol"])
        if f is None:
            return [self._rejected(intent, order_id, ev_id, RejectCode.UNKNOWN_SYMBOL, "no exchangeInfo filters")]
        quote = tick["payload"]
        market = intent["order_type"] == "MARKET"
        side = intent["side"]
        qty = f.floor_qty(intent["qty"], market)
        problem = f.check_qty(qty, market)
        limit: Decimal | None = None
        if problem is None and not market:
            limit = f.round_price(intent["price"], side)
            problem = f.check_price(limit) or f.check_notional(limit * qty, market)
        legs, rest = take_liquidity(side, qty, quote, f, self._slippage, limit)
        if problem is None and market:
            problem = f.check_notional(sum((p * q for p, q in legs), Decimal(0)), market)
        if problem is None:
            problem = self._check_funds(intent, legs, rest, limit)
        if problem is not None:
            return [self._rejected(intent, order_id, ev_id, problem[0], problem[1])]
        out = [self._fill(intent, order_id, ev_id, p, q, "TAKER", str(tick["id"])) for p, q in legs]
        if rest > 0 and limit is not None:
            order = _Resting(intent, order_id, limit, rest, self._now)
            order.legs, order.filled = legs, qty - rest
            self._reserve(order, +1)
            self._resting.setdefault(intent["symbol"], []).append(order)
            status = "PARTIALLY_FILLED" if legs else "NEW"
        else:
            status = "FILLED"
        out.append(self._result(intent, order_id, ev_id, status, qty - rest, legs))
        return out

    def _check_contract(self, intent: Mapping[str, Any]) -> None:
        coid = intent.get("client_order_id")
        if not isinstance(coid, str) or not CLIENT_ID_RE.match(coid):
            raise ContractViolation(f"order_intent client_order_id {coid!r} invalid", ReasonCode.PAYLOAD_INVALID)
        if coid in self._seen:
            raise ContractViolation(f"order_intent client_order_id {coid} seen before", ReasonCode.DUPLICATE_ID)
        numbers = ["qty"] + (["price"] if intent.get("order_type") == "LIMIT" else [])
        if (
            intent.get("side") not in ("BUY", "SELL")
            or intent.get("order_type") not in ("MARKET", "LIMIT")
            or not all(
                isinstance(intent.get(k), int | float) and math.isfinite(intent[k]) and intent[k] > 0 for k in numbers
            )
        ):
            raise ContractViolation(
                f"order_intent {coid}: side/order_type/qty/price invalid", ReasonCode.PAYLOAD_INVALID
            )

    def _check_funds(
        self, intent: Mapping[str, Any], legs: list[Leg], rest: Decimal, limit: Decimal | None
    ) -> tuple[RejectCode, str] | None:
        sym = intent["symbol"]
        if intent["side"] == "BUY":
            cost = sum((p * q + fee_for(p, q, self._taker) for p, q in legs), Decimal(0))
            if limit is not None and rest > 0:
                cost += limit * rest + fee_for(limit, rest, self._maker)
            free = self.portfolio.cash - self._reserved_cash
            if float(cost) > free:
                return RejectCode.INSUFFICIENT_CASH, f"needs {cost} quote, {free:.8f} free"
            return None
        qty = float(sum((q for _, q in legs), Decimal(0)) + rest)
        free_qty = self.portfolio.position_qty(sym) - self._reserved_qty.get(sym, 0.0)
        if qty > free_qty + 1e-12:
            return RejectCode.NO_POSITION, f"SELL {qty} {sym} but {free_qty} free (long-only spot)"
        return None

    def _reserve(self, order: _Resting, sign: int) -> None:
        sym = order.intent["symbol"]
        if order.intent["side"] == "BUY":
            if sign > 0:
                order.reserved = float(order.limit * order.qty + fee_for(order.limit, order.qty, self._maker))
            self._reserved_cash = round(self._reserved_cash + sign * order.reserved, 8)
        else:
            self._reserved_qty[sym] = round(self._reserved_qty.get(sym, 0.0) + sign * float(order.qty), 8)

    def _on_tick_resting(self, sym: str, event: Mapping[str, Any]) -> list[Output]:
        tick, ts, ev_id = event["payload"], int(event["ts"]), str(event["id"])
        out: list[Output] = []
        keep: list[_Resting] = []
        for order in self._resting[sym]:
            intent = order.intent
            if ts - order.placed_ts > self._ttl:
                self._reserve(order, -1)
                out.append(self._result(intent, order.order_id, ev_id, "EXPIRED", order.filled, order.legs))
            elif trades_through(intent["side"], float(order.limit), tick):
                self._reserve(order, -1)
                out.append(self._fill(intent, order.order_id, ev_id, order.limit, order.qty, "MAKER", ev_id))
                order.legs.append((order.limit, order.qty))
                order.filled += order.qty
                out.append(self._result(intent, order.order_id, ev_id, "FILLED", order.filled, order.legs))
            else:
                keep.append(order)
        if keep:
            self._resting[sym] = keep
        else:
            del self._resting[sym]
        return out

    def _fill(
        self,
        intent: Mapping[str, Any],
        order_id: str,
        cause: str,
        price: Decimal,
        qty: Decimal,
        liquidity: str,
        tick_id: str,
    ) -> Output:
        fee = fee_for(price, qty, self._taker if liquidity == "TAKER" else self._maker)
        fill = {
            "order_id": order_id,
            "client_order_id": intent["client_order_id"],
            "symbol": intent["symbol"],
            "side": intent["side"],
            "qty": float(qty),
            "price": float(price),
            "fee": float(fee),
            "fee_asset": self.portfolio.quote_asset,
            "liquidity": liquidity,
            "cause_id": cause,
            # The tick whose book it filled against (for a TAKER fill its cause is the intent).
            "tick_id": tick_id,
        }
        self.portfolio.apply_fill(fill)
        return Output("fill", fill)

    def _result(
        self,
        intent: Mapping[str, Any],
        order_id: str,
        cause: str,
        status: str,
        filled: Decimal,
        legs: list[Leg],
    ) -> Output:
        avg = vwap(legs)
        return Output(
            "order_result",
            {
                "client_order_id": intent["client_order_id"],
                "result": status,
                "order_id": order_id,
                "symbol": intent["symbol"],
                "side": intent["side"],
                "order_type": intent["order_type"],
                "requested_qty": float(intent["qty"]),
                "filled_qty": float(filled),
                "avg_price": None if avg is None else float(avg),
                "cause_id": cause,
            },
        )

    def _rejected(self, intent: Mapping[str, Any], order_id: str, cause: str, code: RejectCode, detail: str) -> Output:
        out = self._result(intent, order_id, cause, "REJECTED", Decimal(0), [])
        out.payload["reason_code"] = code.value
        out.payload["detail"] = detail
        return out
