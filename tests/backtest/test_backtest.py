"""`nore backtest` over the shared recordings: deterministic to the byte, a night's run directory that
`nore report` renders and `nore replay --from-market` rebuilds (so its outputs are the in-process chain's
on the same ticks), fills > 0; bookTicker files give the book; a bad file is exit 2 with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minibot.config.loader import load_config, with_overrides
from minibot.contracts.codec import decode_line, encode_line
from minibot.journal.atomic import read_critical_json
from minibot.metrics import pnl as pnl_module
from minibot.metrics.collector import MetricsCollector
from tests.metrics.report_run import nore
from tests.shared_data import BTC_TRADES, ETH_TRADES

TRADES = [BTC_TRADES, ETH_TRADES]
pytestmark = [pytest.mark.process, pytest.mark.usefixtures("binance_data")]


def _backtest(var: Path, *files: Path, config: Path | None = None) -> Path:
    args = [a for f in files for a in ("--data", str(f))] + ([] if config is None else ["--config", str(config)])
    done = nore("backtest", *args, "--var", str(var), timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("run_dir: ") and lines[-1].startswith("backtest ")
    return Path(lines[0].removeprefix("run_dir: "))


def _journals(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted((run / "queues").glob("*/inbox*.jsonl"))}


def test_two_backtests_are_byte_identical_and_replay_from_market(tmp_path: Path) -> None:
    first = _backtest(tmp_path / "a", *TRADES)
    second = _backtest(tmp_path / "b", *TRADES)
    assert _journals(first) == _journals(second)
    assert (first / "queues" / "fills" / "inbox.jsonl").read_bytes().count(b"\n") > 0
    # The tick lines are written from a template around the payload: exactly orjson's encoding of the event,
    # in build_envelope's field order (without ts_iso).
    order = ["schema", "v", "ts", "id", "source", "type", "run_id", "cmdline_hash", "payload"]
    for line in (first / "queues" / "market_ticks" / "inbox.jsonl").read_bytes().splitlines():
        event = decode_line(line)
        assert list(event) == order and encode_line(event) == line + b"\n"
    run = read_critical_json(first / "run.json")
    assert run["supervisor"] == {"mode": "backtest"} and run["backtest"]["ticks"] > 30_000
    assert {d["symbol"] for d in run["backtest"]["data"]} == {"BTCUSDT", "ETHUSDT"}
    replayed = nore("replay", str(first), "--from-market")
    assert replayed.returncode == 0 and replayed.stdout.startswith("IDENTICAL:"), replayed.stdout
    report = nore("report", str(first))
    assert report.returncode == 0, report.stdout + report.stderr
    assert (first / "report.html").stat().st_size > 10_000


def test_book_ticker_files_give_the_book(tmp_path: Path) -> None:
    book = tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv"
    rows = ["update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time"]
    rows += [
        f"{i},6{i % 7}000.10,1.5,6{i % 7}000.20,2.0,{1723161255000 + 100 * i},{1723161255001 + 100 * i}"
        for i in range(50)
    ]
    book.write_text("\n".join(rows) + "\n")
    run = _backtest(tmp_path / "var", book)
    ticks = (run / "queues" / "market_ticks" / "inbox.jsonl").read_text().splitlines()
    assert ticks and all('"kind":"book"' in t and '"bid_qty":1.5' in t for t in ticks)


def test_a_bad_data_file_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "BTCUSDT-trades-2024-08-08.csv"
    bad.write_text("1,abc,0.1,1.0,1723161255000,True,True\n")
    done = nore("backtest", "--data", str(bad), "--var", str(tmp_path / "var"))
    assert done.returncode == 2 and "BTCUSDT-trades-2024-08-08.csv:1" in done.stdout
    assert not (tmp_path / "var").exists()


def test_a_backtest_over_many_segments_verifies_and_is_read_back_without_holding_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1 MB segments: the ~14 MB of market ticks rotate a dozen times, as a real day's do at 64 MB. Every
    # segment is chained (R-C1): the tick journal once wrote unchained segments, which `nore verify` failed.
    config = tmp_path / "small-segments.json"
    config.write_text(json.dumps(with_overrides(load_config(), {"queues": {"segment_max_bytes": 1 << 20}})))
    run = _backtest(tmp_path / "var", *TRADES, config=config)
    ticks = sorted((run / "queues" / "market_ticks").glob("inbox*.jsonl.chain"))
    assert len(ticks) > 10, [p.name for p in ticks]
    verified = nore("verify", str(run))
    assert verified.returncode == 0 and verified.stdout.rstrip().endswith("PASS"), verified.stdout[-3000:]
    # The collector reads fills before ticks, so folding the ticks as they come (here every 512, 30 s of
    # market time back: the recording spans 11 minutes) never finds a fill older than its checkpoint: no
    # start-over, the figures of metrics.json, and a few thousand of the ~36,000 ticks held at the end.
    monkeypatch.setattr(pnl_module, "KEEP_MAX", 512)
    collector = MetricsCollector(run, read_critical_json(run / "run.json")["config"], strict=False)
    collector.pnl.settle_ms = 30_000
    collector.update(None)
    assert collector.pnl.ticks > 30_000 and len(collector.pnl._tick_ts) < 5_000
    assert collector.pnl.figures() == read_critical_json(run / "metrics.json")["pnl"]
    assert collector.pnl.start_overs == 0
    collector.close()
