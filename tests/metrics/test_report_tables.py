"""Report tables: the trades table's paper slippage per fill (bps against the mid at decision time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.metrics.report_data import RunData
from minibot.metrics.report_tables import slippage_bps, trades_table

from ..core.builders import T0, env


def test_slippage_is_positive_when_worse_than_the_decision_mid() -> None:
    # Decided at bid 59999.99 / ask 60000.00: mid 59999.995.
    assert slippage_bps("BUY", 60000.494, 59999.995) == 0.083  # 0.499 / 59999.995 * 1e4 = 0.08317
    assert slippage_bps("SELL", 59997.0, 60000.0) == 0.5  # 3 / 60000 * 1e4
    assert slippage_bps("SELL", 60001.0, 60000.0) == -0.167  # better than the mid: negative
    assert slippage_bps("BUY", 60000.0, None) is None


def _fill(coid: str, side: str, price: float, n: int) -> dict[str, Any]:
    payload = {**EXAMPLE_PAYLOADS["fill"], "client_order_id": coid, "side": side, "price": price, "qty": 0.01}
    return env("fill", payload, T0 + n, n, source="execution_role")


def test_trades_table_shows_each_fills_slippage(tmp_path: Path) -> None:
    data = RunData(tmp_path)
    data.events["fills"] = [_fill("nore-a", "BUY", 60003.0, 1), _fill("nore-a", "BUY", 60006.0, 2)]
    data.events["fills"].append(_fill("nore-unknown", "SELL", 60000.0, 3))
    data.decision_mid = {"nore-a": 60000.0}
    html = trades_table(data, {})
    assert "<th>slippage bps vs decision mid</th>" in html
    assert '<td class="num">0.50</td>' in html and '<td class="num">1.00</td>' in html  # 3 and 6 over 60000
    assert html.count("<td>-</td>") >= 2  # the unknown decision and the PnL nobody closed
