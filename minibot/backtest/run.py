"""`nore backtest --data FILE [--data FILE ...] [--config FILE] [--var DIR]`: the trading core over recordings.

One process, no network, no clock: the recorded messages (minibot.backtest.recordings, merged in exchange
time) go through the market role's `TickBuilder` with exchange time as its clock (so book conflation is the
night's rule, applied to recorded time instead of arrival time: that is the boundary, everything after
market_ticks is the same code path as a night), then each tick is journaled to market_ticks and fed to
`CoreChain`, whose outputs are journaled to their queues. Journals are written in batches of
`queues.batch_max_events` with fsync policy `none` plus one fsync at the end (a backtest can simply be rerun).
A market tick's id is `sequential_ids(run_id, "market_ticks")` of its line number; docs/core.md lists what
else keeps the loop fast (`bench/bench_backtest.py`).
The run directory has a night's layout: run.json (with `"backtest"`: the files, tick counts; its clock
starts at the first tick), exchange_info.json, queues/, roles/ (empty: no input logs), metrics.json. So
`nore report`, `nore verify` and `nore replay RUN_DIR --from-market` work on it. A night of the same ticks
trades identically (docs/architecture.md, "The market timeline").
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import typer

from minibot.backtest.chain import CoreChain
from minibot.backtest.recordings import Recording, exchange_info, load, messages
from minibot.clock import RunClock
from minibot.config.binance import BinanceConfig
from minibot.config.loader import load_config
from minibot.config.views import QueuesConfig
from minibot.contracts.codec import frame_all
from minibot.contracts.envelope import validate_event
from minibot.exitcodes import ExitCode
from minibot.ids import new_run_id, sequential_ids
from minibot.journal.atomic import write_critical_json
from minibot.journal.context import RunContext
from minibot.journal.producer import Producer
from minibot.marketdata.datafiles import DataFileError
from minibot.metrics.collector import MetricsCollector
from minibot.model.filters import filters_from_exchange_info
from minibot.reasons import NoreError
from minibot.rolenames import Role
from minibot.roles.tick_builder import TickBuilder
from minibot.roles.timeline import MARKET
from minibot.runlayout import EXCHANGE_INFO_FILE
from minibot.watchdog.rundir import create_queues, run_document, write_run_file

MARKET_SOURCE = Role.MARKET.value
RUN_ID_ATTEMPTS = 100  # backtests of the same data in one var folder


class _Journals:
    """Batched producers: market_ticks plus every core output queue, one Producer per (queue, role)."""

    def __init__(self, ctx: RunContext, batch: int) -> None:
        self.ctx = ctx
        self.batch = batch
        self.producers: dict[tuple[str, str], Producer] = {}
        self.pending: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}

    def add(self, role: str, queue: str, envelopes: list[dict[str, Any]]) -> None:
        key = (queue, role)
        pending = self.pending.setdefault(key, [])
        pending.extend(envelopes)
        if len(pending) >= self.batch:
            self._write(key)

    def _write(self, key: tuple[str, str]) -> None:
        pending = self.pending.get(key)
        if not pending:
            return
        producer = self.producers.get(key)
        if producer is None:
            producer = self.producers[key] = self.ctx.producer(key[0], key[1], fsync="none")
        self.counts[key[0]] = self.counts.get(key[0], 0) + producer.publish(pending)
        self.pending[key] = []

    def close(self) -> None:
        for key in list(self.pending):
            self._write(key)
        for producer in self.producers.values():
            producer.close()


def canonical_command(data: list[Path], config_path: Path | None) -> str:
    """The command line recorded (and hashed into every event): file names, not their folders, and the
    config's sha256, so a backtest of the same files and config writes the same bytes wherever it runs."""
    parts = ["nore", "backtest"] + [f"--data {Path(p).name}" for p in data]
    if config_path is not None:
        parts.append(f"--config sha256:{hashlib.sha256(Path(config_path).read_bytes()).hexdigest()}")
    return " ".join(parts)


def _create_run_dir(var: Path, first_ts: int) -> tuple[str, Path]:
    """`<var>/runs/<run_id>` named after the data's first second (UTC), or a later free second."""
    runs = Path(var) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for k in range(RUN_ID_ATTEMPTS):
        run_id = new_run_id(datetime.fromtimestamp(first_ts / 1000 + k, UTC))
        try:
            (runs / run_id).mkdir(exist_ok=False)
        except FileExistsError:
            continue
        return run_id, (runs / run_id).resolve()
    raise FileExistsError(f"{runs}: {RUN_ID_ATTEMPTS} backtests of this data already")


def run_backtest(data: list[Path], config_path: Path | None, var: Path, echo: Callable[[str], None]) -> int:
    """Build the run directory, run the chain over the recordings, print `run_dir:` first, a summary last."""
    try:
        config = load_config(config_path)
        rec = load(data)
    except (NoreError, DataFileError, OSError) as exc:
        echo(f"nore backtest: {exc}")
        return ExitCode.USAGE
    first_ts = next(messages(rec))[0]
    run_id, run_dir = _create_run_dir(var, first_ts)
    echo(f"run_dir: {run_dir}")
    started = time.perf_counter()
    clock = RunClock(first_ts, 1.0, 0)  # a fixed anchor: two backtests write the same run.json
    command_line = canonical_command(data, config_path)
    doc = run_document(run_id, command_line, config, clock, first_ts / 1000.0, None, {"mode": "backtest"})
    doc["backtest"] = {"data": rec.describe()}
    info = exchange_info(rec)
    write_critical_json(run_dir / EXCHANGE_INFO_FILE, info)
    queues = QueuesConfig.from_config(config)
    create_queues(run_dir, queues)
    ctx = RunContext(run_dir, run_id, doc["cmdline_hash"], lambda: first_ts, queues)
    figures = _run(ctx, config, rec, info)
    doc["backtest"].update(figures)
    write_run_file(run_dir, doc)
    collector = MetricsCollector(run_dir, config)
    collector.update(figures["last_ts"], {})
    metrics = collector.write(final=True)
    collector.close()
    elapsed = time.perf_counter() - started
    pnl = metrics.get("pnl", {})
    counts = figures["counts"]
    rate = figures["ticks"] / max(figures["loop_s"], 1e-9)
    echo(
        f"backtest {run_id}: {figures['ticks']} ticks, core loop {figures['loop_s']:.2f} s ({rate:,.0f} ticks/s), "
        f"{elapsed:.1f} s in all; signals {counts.get('signals', 0)}, intents {counts.get('order_intents', 0)}, fills "
        f"{counts.get('fills', 0)}, STOP {'yes' if figures['stopped'] else 'none'}; equity {pnl.get('equity')}, "
        f"realized {pnl.get('realized_pnl')}, trips {pnl.get('trips')}"
    )
    return ExitCode.OK


class _TickJournal:
    """market_ticks written in batches of lines encoded here (`Producer.publish_framed`): the backtest is the
    only writer of its fresh run directory, and the ticks come from `TickBuilder` over parsed (finite,
    positive) numbers, so only the first batch goes through full contract validation (of the JSON exactly as
    written); every line is framed and hashed like any other, and every batch chained, a batch at a time. The
    loop appends each tick's JSON to `pending`."""

    def __init__(self, ctx: RunContext, batch: int) -> None:
        self.contract = ctx.queue_paths(MARKET).contract
        # A producer's chain sidecars link every batch and segment (R-C1): `nore verify` checks them.
        self.producer = ctx.producer(MARKET, "market", fsync="none")
        self.batch = batch
        self.pending: list[bytes] = []
        self.validated = False
        self.count = 0

    def flush(self) -> None:
        pending = self.pending
        if not pending:
            return
        if not self.validated:
            for raw in pending:
                validate_event(orjson.loads(raw), self.contract)
            self.validated = True
        self.count += self.producer.publish_framed(frame_all(pending))
        pending.clear()

    def close(self) -> None:
        self.flush()
        self.producer.close()


def _run(ctx: RunContext, config: dict[str, Any], rec: Recording, info: dict[str, Any]) -> dict[str, Any]:
    batch = ctx.queues.batch_max_events
    journals = _Journals(ctx, batch)
    ticks = _TickJournal(ctx, batch)
    chain = CoreChain(ctx.run_id, ctx.cmdline_hash, config, filters_from_exchange_info(info), journals.add)
    builder = TickBuilder(BinanceConfig.from_config(config).conflation_ms)
    run_id, cmdline_hash = ctx.run_id, ctx.cmdline_hash
    pending, flush, dumps, feed = ticks.pending, ticks.flush, orjson.dumps, chain.feed
    on_trade, on_message, due = builder.on_trade, builder.on_message, builder.due
    tick_id = sequential_ids(run_id, MARKET)
    # Each line is orjson's encoding of the tick (build_envelope's field order, no ts_iso) with only the
    # payload serialized per tick: the other fields are ASCII that JSON writes as is (run_id and cmdline_hash
    # have fixed formats; the first batch is validated, tests/backtest checks the encoding byte for byte).
    head = b'{"schema":"nore.event","v":1,"ts":%d,"id":"%s'
    tail = f'","source":"{MARKET_SOURCE}","type":"market_tick","run_id":"{run_id}","cmdline_hash":"{cmdline_hash}"'
    line = head + tail.replace("%", "%%").encode() + b',"payload":%s}'
    mseq = 0
    last_ts = 0
    started, cpu_started = time.perf_counter(), time.process_time()

    def emit(payloads: list[dict[str, Any]], ts: int) -> None:
        nonlocal mseq
        for payload in payloads:
            del payload["recv_perf_ns"]  # no receipt: a recording has exchange time only
            id_ = tick_id(mseq)
            # build_envelope's field order, without its per-event validation (see _TickJournal).
            tick = {
                "schema": "nore.event",
                "v": 1,
                "ts": ts,
                "id": id_,
                "source": MARKET_SOURCE,
                "type": "market_tick",
                "run_id": run_id,
                "cmdline_hash": cmdline_hash,
                "payload": payload,
            }
            pending.append(line % (ts, id_.encode(), dumps(payload)))
            feed(mseq, tick)
            mseq += 1
        if len(pending) >= batch:
            flush()

    for ts, item in messages(rec):
        out = due(ts)
        if out:
            emit(out, ts)
        # A trade comes as its fields (a tuple), a book as its message.
        out = on_trade(item, ts, 0) if type(item) is tuple else on_message(item, ts, 0)  # type: ignore[arg-type]
        if out:
            emit(out, ts)
        last_ts = ts
    emit(builder.flush(), last_ts)
    ticks.close()
    journals.close()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    counts = {MARKET: ticks.count, **journals.counts}
    return {
        "ticks": mseq,
        "last_ts": last_ts,
        "counts": counts,
        "stopped": chain.stopped,
        "loop_s": round(elapsed, 3),
        "loop_cpu_s": round(cpu, 3),
    }


def backtest(
    data: list[Path] = typer.Option(
        ..., "--data", help="Binance public-data file (trades, aggTrades or bookTicker CSV/.zip); repeatable."
    ),
    config: Path | None = typer.Option(None, "--config", help="Config file (default: the shipped nore.v1.json)."),
    var: Path = typer.Option(Path("var"), "--var", help="Folder for runs/ (default ./var)."),
) -> None:
    """Run strategy, risk and the paper executor over recorded Binance data, in one process.

    Writes a run directory with a night's layout (queues, metrics.json, run.json marked as a backtest);
    prints `run_dir: <path>` first and a summary last. `nore report` and `nore replay --from-market` work on
    it. Exit 0 done, 2 a data or config file that cannot be used (nothing written).
    """
    raise typer.Exit(run_backtest(data, config, var, typer.echo))
