"""The whole core on real Binance recordings: signals and fills happen, outputs honour the contracts,
portfolios agree with the fills journal, and everything is byte-for-byte reproducible."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from minibot.contracts.envelope import encode_event
from minibot.contracts.registry import registry
from minibot.execution import ExecutionCore
from minibot.model import Portfolio
from minibot.risk import RiskCore
from minibot.strategies import StrategyCore

from .chain import Chain
from .fixtures import default_section, exchange_filters
from .realdata import load_ticks, merge_ticks

# Whole recordings through the whole core, several times over: tens of seconds, so not in `dev.py test --fast`.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("binance_data")]


def chain(record_inputs: bool = False, **risk_changes: Any) -> Chain:
    risk = default_section("risk")
    risk.update(risk_changes)
    return Chain(default_section("strategy"), risk, default_section("execution"), exchange_filters(), record_inputs)


def queue_for(etype: str) -> Any:
    return next(q for q in registry().queues.values() if etype in q.types)


def test_btc_trades_at_default_settings_trade() -> None:
    c = chain()
    events = c.run(load_ticks("BTCUSDT"))
    counts = Counter(e["type"] for e in events)
    assert counts["signal"] >= 10 and counts["order_intent"] >= 5 and counts["fill"] >= 5
    assert counts["order_result"] == counts["order_intent"]
    assert not c.risk.halted and not c.executor.halted
    for e in events:  # every output is a valid envelope on its queue, from an allowed producer, all finite
        encode_event(e, queue_for(e["type"]))
    fills = [e["payload"] for e in events if e["type"] == "fill"]
    # The executor's portfolio, the risk layer's view and a rebuild from the fills journal agree.
    assert c.risk.portfolio.snapshot() == c.executor.portfolio.snapshot()
    rebuilt = Portfolio.rebuild(fills, 10_000.0).snapshot()
    accounting = ("cash", "realized_pnl", "fees_paid", "fills", "wins", "losses", "gross_win", "gross_loss")
    assert {k: rebuilt[k] for k in accounting} == {k: c.executor.portfolio.snapshot()[k] for k in accounting}
    assert c.executor.portfolio.stats()["trips"] >= 1


def test_two_symbols_with_book_ticks() -> None:
    c = chain()
    events = c.run(merge_ticks(load_ticks("BTCUSDT", True), load_ticks("ETHUSDT", True)))
    by_symbol = Counter(e["payload"]["symbol"] for e in events if e["type"] == "fill")
    assert by_symbol["BTCUSDT"] >= 3 and by_symbol["ETHUSDT"] >= 3


def test_limit_orders_on_real_data_fill_as_maker() -> None:
    c = chain(order_type="LIMIT", limit_offset_bps=0.0)
    events = c.run(load_ticks("BTCUSDT", True))
    liquidity = Counter(e["payload"]["liquidity"] for e in events if e["type"] == "fill")
    assert liquidity["MAKER"] >= 3
    results = Counter(e["payload"]["result"] for e in events if e["type"] == "order_result")
    assert results["NEW"] >= 3 and results["FILLED"] >= 3


def test_same_input_twice_gives_byte_identical_outputs() -> None:
    ticks = merge_ticks(load_ticks("BTCUSDT", True), load_ticks("ETHUSDT"))
    first = orjson.dumps(chain().run(ticks))
    second = orjson.dumps(chain().run(ticks))
    assert first == second and len(first) > 1000


def test_each_core_rebuilt_from_its_input_log_reproduces_its_outputs() -> None:
    """What a restarted runner does: replay the role's logged inputs into a fresh core."""
    c = chain(record_inputs=True)
    c.run(load_ticks("BTCUSDT", True))
    assert c.inputs is not None
    fresh = {
        "strategy_role": StrategyCore(default_section("strategy")),
        "risk_role": RiskCore(default_section("risk"), 10_000.0, exchange_filters()),
        "execution_role": ExecutionCore(exchange_filters(), default_section("execution")),
    }
    for role, core in fresh.items():
        replayed = [o.payload for event in c.inputs[role] for o in core.step(event)]
        original = [e["payload"] for e in c.events if e["source"] == role]
        assert orjson.dumps(replayed) == orjson.dumps(original)
        assert replayed
