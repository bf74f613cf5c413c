"""ai_role: the AI as an isolated role process (R-G3, R-G4, R-I1..I7, R-Q3).

`python -m minibot.roles.ai_role --run-dir RUN_DIR`, started by the supervisor with the environment of
`minibot.ai.env.ai_role_environment` (scrubbed). It reads only `ai_readable_queues` (market_ticks, fills)
as the declared consumer `ai_role`, drives `AiEngine`, and writes only:
- `ai_recommendation` events to its own `ai_recommendations` queue (random UUID4 ids, `ts` = the cause's);
  training is due on the run clock, its window ending at min(run clock, newest event time read);
- `<run>/<ai.dir>/`: the engine's dataset, snapshots and `active.json`, the `ai_model_event` journal
  `model_events.jsonl` and `metrics.json` (critical JSON of `AiEngine.ai_metrics()`, every
  `metrics.interval_s` of run clock and at exit);
- its own cursor/acks files on the queues it reads, and heartbeats / a STOP like every role.

Restart: the engine's outputs depend on when background training finished, so they cannot be regenerated
and compared like a pure core's (RoleRunner). Instead a restarted ai_role reads the tail of its
`ai_recommendations` queue and never answers a `cause_id` twice. A kill between publishing a batch's
recommendations and acking its inputs re-delivers at most one batch per input queue, and every input
yields at most one recommendation, so the tail it reads (`batch_max_events` per input queue) covers it.
At start it also refuses to run (AI_ISOLATION_BREACH) if its process has loaded trading or network code,
and it lowers its own CPU priority so that on a busy machine the trading roles are scheduled first.
The strategy journals the recommendations it consumed in its input log, so replay of the trading core
stays exact whatever the AI did.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from minibot.ai.engine import AiEngine, AiIsolationBreach
from minibot.ai.isolation import loaded_forbidden_modules
from minibot.ai.settings import AiSettings
from minibot.config.views import MetricsConfig
from minibot.contracts.envelope import build_envelope, encode_event
from minibot.contracts.registry import registry
from minibot.ids import random_id
from minibot.journal.atomic import write_critical_json
from minibot.journal.consumer import Consumer
from minibot.journal.context import RunContext
from minibot.journal.layout import INBOX
from minibot.journal.reader import decode_event
from minibot.journal.segments import FsyncPolicy, SegmentAppender, list_segments
from minibot.journal.tail import repair_torn_tail
from minibot.rolenames import Role
from minibot.roles.process import RoleEnv, role_main
from minibot.roles.timeline import MARKET
from minibot.runlayout import METRICS_FILE, MODEL_EVENTS_STEM

ROLE = Role.AI.value
OUTPUT_QUEUE = "ai_recommendations"
NICE = 10
_TAIL_CHUNK = 1 << 16


def input_queues() -> list[str]:
    """The queues ai_role reads: exactly `ai_readable_queues` of contracts.v1.json, in a fixed order."""
    return sorted(registry().ai_readable_queues)


def tail_lines(folder: Path, stem: str, count: int) -> list[bytes]:
    """The last `count` whole lines of a segmented journal, oldest first.

    Bytes after the last newline (an append in progress, or torn by a crash) were never published and are
    left out, as every reader does.
    """
    out: list[bytes] = []
    for _, path in reversed(list_segments(folder, stem)):
        need = count - len(out)
        if need <= 0:
            break
        with path.open("rb") as fh:
            pos = fh.seek(0, os.SEEK_END)
            buf = b""
            while pos > 0 and buf.count(b"\n") <= need:
                start = max(0, pos - _TAIL_CHUNK)
                fh.seek(start)
                buf = fh.read(pos - start) + buf
                pos = start
        whole = buf.split(b"\n")[:-1]
        if pos > 0:
            whole = whole[1:]  # the first piece may begin in the middle of a line
        out = [line + b"\n" for line in whole[-need:]] + out
    return out


def answered_causes(ctx: RunContext, count: int) -> OrderedDict[str, None]:
    """`cause_id`s of the last `count` recommendations already in the output queue (verified lines)."""
    paths = ctx.queue_paths(OUTPUT_QUEUE)
    seen: OrderedDict[str, None] = OrderedDict()
    for line in tail_lines(paths.folder, INBOX, count):
        _, event = decode_event(line, paths.contract, run_id=ctx.run_id, cmdline_hash=ctx.cmdline_hash)
        seen[event["payload"]["cause_id"]] = None
    return seen


class ModelEventJournal:
    """`<ai_dir>/model_events.jsonl`: append-only sha256 journal of `ai_model_event`s, fsynced per event."""

    def __init__(self, ctx: RunContext, ai_dir: Path, log: Any) -> None:
        self.ctx = ctx
        for _, path in list_segments(ai_dir, MODEL_EVENTS_STEM)[-1:]:
            size, removed = repair_torn_tail(path)  # the only writer, so no lock: a torn tail is a crash
            if removed:
                log.warning("%s: truncated a torn final line (%d bytes) at offset %d", path, removed, size)
        self._appender = SegmentAppender(ai_dir, MODEL_EVENTS_STEM, FsyncPolicy("always"), 64 << 20)
        self.written = 0

    def append(self, payload: Mapping[str, Any]) -> None:
        """Validate one `ai_model_event` payload, envelope it and append it durably."""
        event = build_envelope(
            type_="ai_model_event",
            payload=payload,
            ts=self.ctx.clock(),
            id_=random_id(),
            source=ROLE,
            run_id=self.ctx.run_id,
            cmdline_hash=self.ctx.cmdline_hash,
        )
        self._appender.append(encode_event(event))
        self.written += 1

    def close(self) -> None:
        """Flush and close the journal."""
        self._appender.close()


class AiRole:
    """One ai_role process: consumers of the readable queues -> AiEngine -> recommendations."""

    def __init__(self, env: RoleEnv) -> None:
        loaded = loaded_forbidden_modules(sys.modules)
        if loaded:
            raise AiIsolationBreach(f"ai_role process has trading or network code loaded: {loaded}")
        self.env = env
        ctx = env.ctx
        self.ai_dir = env.run_dir / AiSettings.from_config(env.config).dir
        self.ai_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_interval_ms = MetricsConfig.from_config(env.config).interval_s * 1000
        self._next_metrics_ms = 0.0
        self.duplicates_skipped = 0
        self._data_ms: int | None = None  # newest event time read: where the training window ends
        inputs = input_queues()
        self._window = ctx.queues.batch_max_events * len(inputs)
        self._answered = answered_causes(ctx, self._window)
        self.journal = ModelEventJournal(ctx, self.ai_dir, env.log)
        self.engine = AiEngine(env.config["ai"], self.ai_dir, self.journal.append)
        self.producer = ctx.producer(OUTPUT_QUEUE, ROLE)
        self.consumers: list[Consumer] = [ctx.consumer(q, ROLE) for q in inputs]
        if env.waker is not None and env.waker.bell is not None:
            # Off the trading path (recommendations at most every `ai.recommend_interval_ms`, taken by the
            # strategy as they arrive): the AI reads market ticks in batches at the safety-net poll
            # (`queues.poll_interval_ms`) instead of waking for every tick (issue 14, idle cost).
            env.waker.bell.mute((MARKET,))
        env.log.info(
            "ai_role started: reads %s, %d recent causes already answered, active model %s, priority %s",
            inputs,
            len(self._answered),
            self.engine.active.version if self.engine.active else None,
            psutil.Process().nice(),
        )

    def run_once(self) -> int:
        """One batch from each input queue: fold it in, publish its recommendations, then ack it."""
        handled = 0
        for consumer in self.consumers:
            records = consumer.poll()
            if not records:
                continue
            out = []
            for record in records:
                ts = int(record.event["ts"])
                self._data_ms = ts if self._data_ms is None else max(self._data_ms, ts)
                for rec in self.engine.on_event(record.event):
                    out.extend(self._new_recommendation(rec, ts))
            self.producer.publish(out)
            consumer.ack()
            handled += len(records)
        now = self.env.clock.now_ms()
        if self._data_ms is not None:
            # The training window ends at the data read so far: a lagging ai_role (busy machine, low
            # priority) must not train on a run-clock window that excludes everything it has.
            self.engine.maybe_train(min(now, self._data_ms))
        if now >= self._next_metrics_ms:
            self.write_metrics(now)
        return handled

    def backlog(self) -> bool:
        """An input whose last poll stopped at its batch limit: the next round starts at once."""
        return any(consumer.more for consumer in self.consumers)

    def _new_recommendation(self, rec: dict[str, Any], ts: int) -> list[dict[str, Any]]:
        cause = rec["cause_id"]
        if cause in self._answered:
            self.duplicates_skipped += 1  # answered before a restart; the strategy has it already
            return []
        self._answered[cause] = None
        if len(self._answered) > self._window:
            self._answered.popitem(last=False)
        return [self.producer.event("ai_recommendation", rec, ts=ts)]

    def write_metrics(self, now_ms: int) -> None:
        """`<ai_dir>/metrics.json`: the engine's metrics plus this process's, for the run's metrics.json."""
        self._next_metrics_ms = now_ms + self.metrics_interval_ms
        data = {
            **self.engine.ai_metrics(),
            "duplicate_causes_skipped": self.duplicates_skipped,
            "model_events_journaled": self.journal.written,
            "pid": os.getpid(),
            "ts": now_ms,
        }
        write_critical_json(self.ai_dir / METRICS_FILE, data)

    def flush_if_due(self) -> None:
        """Group-commit tick for the output queue and the cursors."""
        self.producer.flush_if_due()
        for consumer in self.consumers:
            consumer.flush_if_due()

    def close(self) -> None:
        """Finish a running training round, flush the dataset, write final metrics, release files."""
        try:
            self.engine.close()
            self.write_metrics(self.env.clock.now_ms())
        finally:
            for consumer in self.consumers:
                consumer.close()
            self.producer.close()
            self.journal.close()


def lower_priority() -> str:
    """Run below the trading roles: on a busy machine the scheduler serves the core chain first.

    A process may always lower its own priority (no privilege needed). Windows: BELOW_NORMAL priority
    class; elsewhere: nice +10. Returns what was set, for the log.
    """
    me = psutil.Process()
    if sys.platform == "win32":
        me.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        return "BELOW_NORMAL_PRIORITY_CLASS"
    me.nice(max(me.nice(), NICE))
    return f"nice {me.nice()}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m minibot.roles.ai_role --run-dir RUN_DIR`."""
    lower_priority()
    return role_main(ROLE, AiRole, argv)


if __name__ == "__main__":
    raise SystemExit(main())
