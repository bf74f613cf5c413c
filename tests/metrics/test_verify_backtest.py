"""`nore verify` on a `nore backtest` run directory: liveness, Binance health and the request log are named
"not applicable: backtest", every journal / order-accounting check still runs (PASS fresh, FAIL damaged)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minibot.backtest.run import run_backtest
from minibot.cli import app
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.metrics.verify import verify_run
from minibot.reasons import ReasonCode, VerifyCode
from tests.shared_data import BTC_TRADES, ETH_TRADES

TRADES = [BTC_TRADES, ETH_TRADES]
pytestmark = [pytest.mark.process, pytest.mark.usefixtures("binance_data")]


@pytest.fixture(scope="module")
def backtest_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines: list[str] = []
    assert run_backtest(TRADES, None, tmp_path_factory.mktemp("var"), lines.append) == 0, lines
    return Path(lines[0].removeprefix("run_dir: "))


def _copy(run: Path, dest: Path) -> Path:
    return Path(shutil.copytree(run, dest / run.name))


def test_a_fresh_backtest_passes_with_the_night_only_checks_named(backtest_run: Path) -> None:
    done = CliRunner().invoke(app, ["verify", str(backtest_run)])
    assert done.exit_code == 0, done.output
    assert done.output.count("not applicable: backtest") == 3
    assert done.output.strip().endswith("PASS")


def test_a_damaged_backtest_fails(backtest_run: Path, tmp_path: Path) -> None:
    run = _copy(backtest_run, tmp_path / "torn")
    fills = run / "queues" / "fills" / "inbox.jsonl"
    data = bytearray(fills.read_bytes())
    data[-20] = ord("7") if data[-20] != ord("7") else ord("8")
    fills.write_bytes(bytes(data))
    assert ReasonCode.LINE_HASH_MISMATCH.value in {r.code for r in verify_run(run).reasons}
    assert CliRunner().invoke(app, ["verify", str(run)]).exit_code == 1

    run = _copy(backtest_run, tmp_path / "unanswered")
    results = run / "queues" / "order_results" / "inbox.jsonl"
    lines = results.read_bytes().splitlines(keepends=True)
    results.write_bytes(b"".join(lines[:-1]))
    codes = {r.code for r in verify_run(run).reasons}
    assert VerifyCode.ORDER_RESULT_MISSING.value in codes


def test_a_night_calling_itself_a_backtest_is_not_excused(backtest_run: Path, tmp_path: Path) -> None:
    run = _copy(backtest_run, tmp_path / "night")
    doc = read_critical_json(run / "run.json")
    del doc["backtest"]
    write_critical_json(run / "run.json", doc)
    codes = {r.code for r in verify_run(run).reasons}
    assert {VerifyCode.ROLE_SILENT.value, VerifyCode.REQUEST_LOG_MISSING.value} <= codes
