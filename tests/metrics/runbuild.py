"""A run directory built the way a run writes it: run.json, real queue producers, the request journal, and
(optionally) the real execution core driven by the real role runner. The clock is a settable run clock so
every `ts` is chosen by the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minibot.config.loader import load_config, with_overrides
from minibot.config.views import QueuesConfig
from minibot.execution import ExecutionCore
from minibot.ids import cmdline_hash, deterministic_id
from minibot.journal.atomic import write_critical_json
from minibot.journal.context import RunContext
from minibot.journal.layout import QueuePaths
from minibot.journal.producer import Producer
from minibot.market.rest import RequestRecord
from minibot.metrics.collector import MetricsCollector
from minibot.model.filters import filters_from_exchange_info
from minibot.roles.request_journal import RequestJournal
from minibot.roles.runner import RoleRunner

RUN_ID = "20260101_220000"
COMMAND_LINE = "python -m minibot run --sim --duration 10m"
T0 = 1_767_304_800_000  # 2026-01-01 22:00:00 UTC
DURATION_MS = 120_000
END = T0 + DURATION_MS
PID = {"market_role": 1001, "health_role": 1002, "strategy_role": 1003, "risk_role": 1004, "execution_role": 1005}

EXCHANGE_INFO: dict[str, Any] = {
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0", "maxQty": "83", "stepSize": "0"},
                {
                    "filterType": "NOTIONAL",
                    "minNotional": "5",
                    "applyMinToMarket": True,
                    "maxNotional": "9000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
        }
    ]
}


def test_config(**overrides: Any) -> dict[str, Any]:
    """The shipped config for a 2-minute run without AI (fsync off: tmp files, speed)."""
    base = {
        "duration_ms": DURATION_MS,
        "queues": {"fsync": "none", "fsync_overrides": {}},
        "ai": {"enabled": False},
        "execution": {"taker_fee_bps": 10.0, "slippage_bps": 0.0},
    }
    return with_overrides(with_overrides(load_config(), base), overrides)


class RunBuilder:
    """Writes a run directory event by event; `now` is the run clock every producer reads."""

    def __init__(self, var: Path, config: dict[str, Any] | None = None, command_line: str = COMMAND_LINE) -> None:
        self.config = config or test_config()
        self.run_dir = var / "runs" / RUN_ID
        self.run_dir.mkdir(parents=True)
        self.now = T0
        self.cmdline_hash = cmdline_hash(command_line)
        self.ctx = RunContext(
            self.run_dir, RUN_ID, self.cmdline_hash, lambda: self.now, QueuesConfig.from_config(self.config)
        )
        run = {
            "run_id": RUN_ID,
            "cmdline_hash": self.cmdline_hash,
            "command_line": command_line,
            "config": self.config,
            "clock": {"start_ms": T0, "speed": 1.0, "anchor_unix_s": T0 / 1000},
            "sim": None,
        }
        write_critical_json(self.run_dir / "run.json", run)
        write_critical_json(self.run_dir / "exchange_info.json", EXCHANGE_INFO)
        for name in self.config["queues"]["names"]:
            QueuePaths.of(self.ctx.queues_dir, name).create()
        self._producers: dict[tuple[str, str], Producer] = {}
        self._requests: dict[str, RequestJournal] = {}
        self._uptime: dict[str, int] = {}
        self._n = 0
        self._runner: RoleRunner | None = None

    def publish(self, queue: str, source: str, type_: str, payload: dict[str, Any], ts: int | None = None) -> dict:
        """One event on a queue, written by its real producer at run time `ts` (default: now)."""
        if ts is not None:
            self.now = ts
        producer = self._producers.get((queue, source))
        if producer is None:
            producer = self._producers[(queue, source)] = self.ctx.producer(queue, source)
        self._n += 1
        event = producer.event(type_, payload, id_=deterministic_id(RUN_ID, "test", str(self._n)))
        producer.publish([event])
        return event

    def tick(self, ts: int, bid: float, ask: float, symbol: str = "BTCUSDT") -> dict:
        """A book tick."""
        payload = {
            "symbol": symbol,
            "price": (bid + ask) / 2,
            "bid": bid,
            "ask": ask,
            "bid_qty": 5.0,
            "ask_qty": 5.0,
            "kind": "book",
            "exchange_ts": None,
            "trade_id": None,
        }
        return self.publish("market_ticks", "market_role", "market_tick", payload, ts)

    def fill(self, ts: int, side: str, qty: float, price: float, fee: float, n: int) -> dict:
        """A fill written as execution_role would."""
        payload = {
            "order_id": f"o{n}",
            "client_order_id": f"c{n}",
            "symbol": "BTCUSDT",
            "side": side,
            "qty": qty,
            "price": price,
            "fee": fee,
            "fee_asset": "USDT",
            "liquidity": "TAKER",
            "cause_id": deterministic_id(RUN_ID, "cause", str(n)),
        }
        return self.publish("fills", "execution_role", "fill", payload, ts)

    def intent(self, ts: int, side: str, qty: float, bid: float, ask: float, n: int) -> dict:
        """A MARKET order_intent written as risk_role would."""
        payload = {
            "symbol": "BTCUSDT",
            "side": side,
            "qty": qty,
            "order_type": "MARKET",
            "client_order_id": f"nore-{n}",
            "notional": qty * ask,
            "cause_id": deterministic_id(RUN_ID, "signal", str(n)),
            "bid": bid,
            "ask": ask,
            "bid_qty": 5.0,
            "ask_qty": 5.0,
        }
        return self.publish("order_intents", "risk_role", "order_intent", payload, ts)

    def heartbeat(self, role: str, ts: int, state: str = "OK", pid: int | None = None, **extra: Any) -> dict:
        """A liveness beat; a new pid restarts the role's uptime."""
        pid = PID.get(role, 2000) if pid is None else pid
        if self._uptime.get(f"{role}.pid") != pid:
            self._uptime[f"{role}.pid"] = pid
            self._uptime[role] = ts
        payload = {"role": role, "state": state, "uptime_s": (ts - self._uptime[role]) / 1000.0, "pid": pid, **extra}
        return self.publish("health", role, "health", payload, ts)

    def beat_all(self, start: int, end: int, every_ms: int = 5000, roles: tuple[str, ...] = tuple(PID)) -> None:
        """Heartbeats of `roles` every `every_ms` from `start` to `end` inclusive."""
        for ts in range(start, end + 1, every_ms):
            for role in roles:
                self.heartbeat(role, ts)

    def request(
        self,
        ts: int,
        path: str,
        latency_ms: float,
        status: int | None = 200,
        role: str = "health_role",
        error: str | None = None,
        query: str = "",
    ) -> None:
        """One REST request in market/requests.jsonl, through the real request journal."""
        self.now = ts
        journal = self._requests.get(role)
        if journal is None:
            journal = self._requests[role] = RequestJournal(self.ctx, role, fsync="none")
        journal.append(RequestRecord(ts, "GET", path, query, status, latency_ms, 1, error))
        journal.flush()

    def timing(self, ts: int, latency_ms: float, kind: str = "tick_to_fill") -> dict:
        """A wall-clock latency observation."""
        payload = {"role": "execution_role", "kind": kind, "latency_ms": latency_ms}
        return self.publish("timing", "execution_role", "timing", payload, ts)

    def step_executor(self) -> ExecutionCore:
        """Let the real execution core, driven by the real role runner, process what is on its input queues
        (call it after each tick or intent, so it sees them in run order)."""
        if self._runner is None:
            core = ExecutionCore(filters_from_exchange_info(EXCHANGE_INFO), self.config["execution"])
            self._runner = RoleRunner(self.ctx, "execution_role", core, ["market_ticks", "order_intents"])
        for _ in range(1000):
            if self._runner.run_once() == 0:
                break
        core_ = self._runner.core
        assert isinstance(core_, ExecutionCore)
        return core_

    def close(self) -> None:
        """Close every writer (later writes open new ones, as a restarted role would)."""
        for producer in self._producers.values():
            producer.close()
        for journal in self._requests.values():
            journal.close()
        if self._runner is not None:
            self._runner.close()
        self._producers, self._requests, self._runner = {}, {}, None


def trade(b: RunBuilder) -> ExecutionCore:
    """A round trip through the real executor: BUY 0.01 at the ask 50001, a dip, SELL 0.01 at the bid 51000.

    Each order meets the next tick, execution.latency_ms later, which repeats the book it was decided on.

    By hand (taker fee 10 bps, no slippage): BUY costs 500.01 + fee 0.50001; the SELL brings 510.00 - fee
    0.51; realized = (51000 - 50001) * 0.01 - 0.51 - 0.50001 = 8.97999. After the BUY equity is 9999.49999
    (marked at the fill price); the dip marks it at mid 49000.5: 9499.48999 + 490.005 = 9989.49499, so the
    max drawdown is (10000 - 9989.49499) / 10000 = 0.001050501.
    """
    latency = int(b.config["execution"]["latency_ms"])
    b.tick(T0 + 1000, 50000.0, 50001.0)
    b.step_executor()
    b.intent(T0 + 1000, "BUY", 0.01, 50000.0, 50001.0, 1)
    b.step_executor()
    b.tick(T0 + 1000 + latency, 50000.0, 50001.0)  # the order reaches this (unchanged) book
    b.step_executor()
    b.tick(T0 + 2000, 49000.0, 49001.0)
    b.step_executor()
    b.tick(T0 + 3000, 51000.0, 51001.0)
    b.step_executor()
    b.intent(T0 + 3000, "SELL", 0.01, 51000.0, 51001.0, 2)
    b.step_executor()
    b.tick(T0 + 3000 + latency, 51000.0, 51001.0)
    return b.step_executor()


def populate(b: RunBuilder, silent: tuple[str, int, int] | None = None, restart_after_gap: bool = False) -> None:
    """A clean 2-minute run: the trade above, heartbeats of every role every 5 s ending STOPPING, a ping and
    a time request every 5 s (5..14 ms), tick->fill timings. `silent`: (role, from_ms, to_ms) without beats;
    `restart_after_gap`: the role comes back as a new process after the gap."""
    trade(b)
    for ts in range(T0, END + 1, 5000):
        for role in PID:
            if silent is not None and role == silent[0] and silent[1] <= ts < silent[2]:
                continue
            pid = PID[role] + (1 if restart_after_gap and silent is not None and ts >= silent[2] else 0)
            b.heartbeat(role, ts, "STOPPING" if ts == END else "OK", pid=pid)
        b.request(ts, "/api/v3/ping", 5.0 + (ts - T0) // 5000 % 10)
        b.request(ts, "/api/v3/time", 6.0)
    b.timing(T0 + 1000, 3.0)
    b.timing(T0 + 3000, 4.0)


def roles_view(alive: bool = False) -> dict[str, dict[str, Any]]:
    """What the supervisor hands the collector per role."""
    return {r: {"pid": pid, "started_ms": T0, "restarts": 0, "alive": alive} for r, pid in PID.items()}


def finish(b: RunBuilder) -> dict[str, Any]:
    """End the run as the supervisor does: close every writer, then the final metrics.json + snapshot."""
    b.close()
    collector = MetricsCollector(b.run_dir)
    collector.update(END, roles_view())
    doc = collector.write(final=True)
    collector.close()
    return doc
