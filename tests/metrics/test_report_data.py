"""What `nore report` keeps of a run in memory (minibot/metrics/report_data.py)."""

from __future__ import annotations

from pathlib import Path

from minibot.metrics.report_data import load_run
from tests.metrics.runbuild import T0, RunBuilder


def test_the_ticks_keep_one_string_per_symbol_not_one_per_tick(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path / "var")
    for n in range(40):
        b.tick(T0 + 100 * n, 100.0 + n, 100.5 + n, symbol=("BTCUSDT", "ETHUSDT")[n % 2])
    b.close()
    ticks = load_run(b.run_dir).ticks
    assert ticks.symbol == ["BTCUSDT", "ETHUSDT"] * 20
    assert len({id(symbol) for symbol in ticks.symbol}) == 2  # a 2-million-tick run held 2 million copies
    assert list(ticks.ts) == [T0 + 100 * n for n in range(40)] and ticks.mid[3] == 103.25
