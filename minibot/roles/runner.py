"""Drive a pure core from file queues, effectively once (R-A2, R-T6; docs/architecture.md "Effectively once").

Per batch (consecutive lines of one input queue, in the order the role's schedule picks them:
minibot/roles/schedule.py): step the core, append an `input_batch` entry to `<run>/roles/<role>/inputs.jsonl`
(which input lines, in which order), publish the outputs with deterministic ids and their place on the market
timeline (minibot/roles/timeline.py), and later ack the inputs. A batch ends right after an input whose outputs
hold a STOP, so nothing is processed after it. The input log records the interleaving of a multi-input role's
inputs (canonical by market sequence for risk and execution, by arrival for the strategy's AI
recommendations), and the output queues are the commit log: on restart the runner replays the logged
batches through a fresh core, checks that the outputs it regenerates match, by id, the ones already
written, writes the missing ones, and brings the consumers' cursors up to the log. A kill -9 at any
instant loses and duplicates nothing.

Core outputs are the events of the role's output queues that its core produced: `source` = the role and a
`cause_id` in the payload. Heartbeats (`health`) and wall-clock `timing` events come from the role process,
not the core, and a process-level STOP (`journal.stop.stop`) names no cause; recovery and `nore replay`
leave them out. An optional `after_batch(queue, inputs, outputs)` callback runs after each batch's outputs
are published and its input acked: the place for a role's wall-clock side work (snapshots, timing events).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from minibot.contracts.core import Core
from minibot.contracts.envelope import build_envelope, encode_event
from minibot.contracts.registry import registry
from minibot.ids import deterministic_id
from minibot.journal.atomic import write_critical_json
from minibot.journal.consumer import Consumer, Record
from minibot.journal.context import RunContext
from minibot.journal.layout import INBOX
from minibot.journal.ordering import LOG
from minibot.journal.producer import Producer
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.segments import FsyncPolicy, SegmentAppender, list_segments
from minibot.journal.stop import is_stopped, stop_flag_path
from minibot.journal.tail import repair_torn_tail
from minibot.reasons import CursorDesync, ReasonCode
from minibot.roles.timeline import MARKET, MarketClock, event_mseq, wrap_outputs
from minibot.runlayout import INPUT_LOG_STEM, role_dir

# Queues a role process writes to outside its core (heartbeats, wall-clock latency observations).
PROCESS_QUEUES = frozenset(("health", "timing"))

BatchHook = Callable[[str, list[Mapping[str, Any]], dict[str, list[dict[str, Any]]]], None]


def output_queues(role: str) -> dict[str, str]:
    """Event type -> queue, for every queue `role` may produce to (from contracts.v1.json)."""
    routes: dict[str, str] = {}
    for queue in registry().queues.values():
        if role in queue.producers:
            for type_ in queue.types:
                routes[type_] = queue.name
    return routes


def core_output_queues(role: str) -> list[str]:
    """The queues `role`'s core writes to (its output queues minus health and timing), sorted."""
    return sorted(set(output_queues(role).values()) - PROCESS_QUEUES)


def is_core_output(event: Mapping[str, Any], role: str) -> bool:
    """True for an event `role`'s core produced (every core output names its cause; heartbeats and
    process-level STOP entries do not)."""
    return bool(event["source"] == role and "cause_id" in event["payload"])


def read_input_log(run_dir: Path, role: str, run_id: str) -> list[dict[str, Any]]:
    """The role's logged input batches, in order (payloads of `input_batch` events)."""
    folder = role_dir(run_dir, role)
    return [decode_event(raw.data, run_id=run_id)[1]["payload"] for raw in iter_lines(folder, INPUT_LOG_STEM)]


def queue_events(ctx: RunContext, queue: str) -> Iterator[dict[str, Any]]:
    """Every event of a queue in order, fully verified."""
    paths = ctx.queue_paths(queue)
    for raw in iter_lines(paths.folder, INBOX):
        yield decode_event(raw.data, paths.contract, run_id=ctx.run_id, cmdline_hash=ctx.cmdline_hash)[1]


class Stepper:
    """A core plus its place on the market timeline: steps one input, returns its output envelopes."""

    def __init__(self, run_id: str, cmdline_hash: str, role: str, core: Core) -> None:
        self.run_id = run_id
        self.cmdline_hash = cmdline_hash
        self.role = role
        self.core = core
        self.clock = MarketClock()
        self.mseq = -1  # the last market tick this role processed

    def step(self, queue: str, line: int, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Outputs of one input (`line` = its line in `queue`): at the tick's own market time for a tick,
        at the input's `ts` (already market time) for anything else."""
        if queue == MARKET:
            self.mseq = line
            ts = self.clock.on_tick(int(event["ts"]))
        else:
            ts = int(event["ts"])
        outputs = self.core.step(event)
        if not outputs:
            return []
        mseq = event_mseq(queue, line, event, self.mseq)
        return wrap_outputs(self.run_id, self.cmdline_hash, self.role, outputs, event["id"], mseq, ts)


def replay_log(
    ctx: RunContext, role: str, core: Core, log: list[dict[str, Any]], emit: Callable[[dict[str, Any]], None]
) -> tuple[dict[str, int], Stepper]:
    """Feed `core` the logged batches in order, passing each output envelope to `emit`.

    Returns the next unread line per input queue and the stepper (its market clock where the log ends).
    Used by restart recovery and by `nore replay`.
    """
    stepper = Stepper(ctx.run_id, ctx.cmdline_hash, role, core)
    streams: dict[str, Iterator[dict[str, Any]]] = {}
    next_line: dict[str, int] = {}
    seen: dict[str, set[str]] = {}
    for batch in log:
        queue = batch["queue"]
        stream = streams.setdefault(queue, queue_events(ctx, queue))
        expected = next_line.get(queue, 0)
        if batch["first_line"] != expected:
            raise CursorDesync(
                f"{role} input log: batch of {queue} starts at line {batch['first_line']}, expected {expected}"
            )
        ids = seen.setdefault(queue, set())
        event: dict[str, Any] = {}
        for line in range(batch["first_line"], batch["last_line"] + 1):
            event = next(stream, {})
            if not event:
                raise CursorDesync(f"{role} input log names line {batch['last_line']} of {queue}, beyond its end")
            if event["id"] in ids:
                continue
            ids.add(event["id"])
            for envelope in stepper.step(queue, line, event):
                emit(envelope)
        if event.get("id") != batch["last_id"]:
            raise CursorDesync(f"{role} input log: line {batch['last_line']} of {queue} is not {batch['last_id']}")
        next_line[queue] = batch["last_line"] + 1
    return next_line, stepper


class RoleRunner:
    """One role: its core, its input consumers and its output producers; a schedule decides what to process."""

    def __init__(
        self, ctx: RunContext, role: str, core: Core, inputs: list[str], after_batch: BatchHook | None = None
    ) -> None:
        self.ctx = ctx
        self.role = role
        self.core = core
        self.routes = output_queues(role)
        self.halted = False
        self.after_batch = after_batch
        folder = role_dir(ctx.run_dir, role)
        folder.mkdir(parents=True, exist_ok=True)
        # Ranked LOG: durable before the outputs and acks that follow from it (minibot/journal/ordering.py).
        self._log = SegmentAppender(folder, INPUT_LOG_STEM, FsyncPolicy.parse(ctx.queues.fsync), 64 << 20, LOG)
        self.producers: dict[str, Producer] = {q: ctx.producer(q, role) for q in sorted(set(self.routes.values()))}
        self.consumers: list[tuple[str, Consumer]] = [(q, ctx.consumer(q, role)) for q in inputs]
        self.by_queue: dict[str, Consumer] = dict(self.consumers)
        self.stepper = Stepper(ctx.run_id, ctx.cmdline_hash, role, core)
        self.next_line: dict[str, int] = {}
        self._done: dict[str, Record] = {}
        # Whether STOP.flag exists: stat'ed on every call unless the role process gives a cheaper view of it
        # (minibot/roles/wake.py `ControlWatch`, re-read after a control ring or at the safety net).
        self.stop_probe: Callable[[], bool] = functools.partial(is_stopped, ctx.run_dir)
        self.recovered_outputs = self._recover()

    # ---- restart recovery -----------------------------------------------------------------------
    def _recover(self) -> int:
        folder = role_dir(self.ctx.run_dir, self.role)
        for _, path in list_segments(folder, INPUT_LOG_STEM)[-1:]:
            repair_torn_tail(path)
        log = read_input_log(self.ctx.run_dir, self.role, self.ctx.run_id)
        written: dict[str, list[str]] = {
            queue: [e["id"] for e in queue_events(self.ctx, queue) if is_core_output(e, self.role)]
            for queue in core_output_queues(self.role)
        }
        produced: dict[str, int] = dict.fromkeys(written, 0)
        missing: dict[str, list[dict[str, Any]]] = {q: [] for q in written}

        def check(envelope: dict[str, Any]) -> None:
            queue = self.routes[envelope["type"]]
            k = produced[queue]
            produced[queue] = k + 1
            if k < len(written[queue]):
                if written[queue][k] != envelope["id"]:
                    raise CursorDesync(
                        f"{self.role}: regenerated output {k} of {queue} has id {envelope['id']}, the queue has "
                        f"{written[queue][k]}",
                        ReasonCode.OUTPUT_DIVERGED,
                    )
            else:
                missing[queue].append(envelope)

        next_line, self.stepper = replay_log(self.ctx, self.role, self.core, log, check)
        for queue, count in produced.items():
            if count < len(written[queue]):
                raise CursorDesync(
                    f"{self.role}: {queue} holds {len(written[queue])} of its outputs, replay makes only {count}",
                    ReasonCode.OUTPUT_DIVERGED,
                )
        recovered = 0
        for queue, envelopes in missing.items():
            recovered += self._publish(queue, envelopes)
        for queue, consumer in self.consumers:
            self.next_line[queue] = next_line.get(queue, 0)
            self._advance(queue, consumer, self.next_line[queue])
        return recovered

    def _advance(self, queue: str, consumer: Consumer, line: int) -> None:
        if consumer.committed.line > line:
            raise CursorDesync(f"{self.role}: {queue} cursor at line {consumer.committed.line}, log ends at {line}")
        while consumer.committed.line < line:
            if not consumer.poll(line - consumer.committed.line):
                raise CursorDesync(f"{self.role}: {queue} has fewer lines than its input log names")
            consumer.ack()

    # ---- steady state ---------------------------------------------------------------------------
    def _publish(self, queue: str, envelopes: list[dict[str, Any]]) -> int:
        if not envelopes:
            return 0
        count = self.producers[queue].publish(envelopes)
        for envelope in envelopes:
            if envelope["type"] == "stop_journal":
                self._raise_stop_flag(envelope)
        return count

    def _raise_stop_flag(self, envelope: dict[str, Any]) -> None:
        flag = stop_flag_path(self.ctx.run_dir)
        if not flag.exists():
            write_critical_json(flag, envelope)
        self.halted = True

    def _log_batch(self, queue: str, first_line: int, last: Record) -> None:
        payload = {
            "role": self.role,
            "queue": queue,
            "first_line": first_line,
            "last_line": last.line,
            "last_id": last.event["id"],
        }
        envelope = build_envelope(
            type_="input_batch",
            payload=payload,
            ts=self.ctx.clock(),
            id_=deterministic_id(self.ctx.run_id, self.role, "input", queue, str(last.line)),
            source=self.role,
            run_id=self.ctx.run_id,
            cmdline_hash=self.ctx.cmdline_hash,
        )
        self._log.append(encode_event(envelope))

    def stopped(self) -> bool:
        """True once this role raised a STOP or STOP.flag exists: nothing more is processed."""
        if not self.halted and self.stop_probe():
            self.halted = True
        return self.halted

    def process(self, queue: str, records: list[Record]) -> int:
        """Step the core on consecutive `records` of `queue`, log them as one batch, publish the outputs.

        Stops right after an input whose outputs hold a STOP (the rest stays unprocessed); returns how many
        records were processed. The inputs are acked later by `ack_done`.
        """
        if not records:
            return 0
        outputs: dict[str, list[dict[str, Any]]] = {}
        done = 0
        step = self.stepper.step
        for record in records:
            done += 1
            stop = False
            for envelope in step(queue, record.line, record.event):
                outputs.setdefault(self.routes[envelope["type"]], []).append(envelope)
                stop = stop or envelope["type"] == "stop_journal"
            if stop:
                break
        last = records[done - 1]
        self._log_batch(queue, self.next_line.get(queue, 0), last)
        self.next_line[queue] = last.line + 1
        self._done[queue] = last
        for out_queue, envelopes in outputs.items():
            self._publish(out_queue, envelopes)
        if self.after_batch is not None:
            self.after_batch(queue, [record.event for record in records[:done]], outputs)
        return done

    def ack_done(self) -> None:
        """Ack every input processed so far, market_ticks last: its ack is this role's watermark, so it may
        only say "done through M" once everything else up to M is committed."""
        for queue in sorted(self._done, key=lambda q: q == MARKET):
            consumer, last = self.by_queue[queue], self._done[queue]
            if consumer.read.line == last.line + 1:
                consumer.ack()  # everything polled was processed
            else:
                consumer.ack(last)
        self._done.clear()

    def run_once(self) -> int:
        """The arrival schedule: poll each input queue in turn, process and ack what arrived."""
        total = 0
        for queue, consumer in self.consumers:
            if self.stopped():
                break
            records = consumer.poll()
            if records:
                total += self.process(queue, records)
                self.ack_done()
        return total

    def backlog(self) -> bool:
        """True when an input's last poll stopped at its batch limit (or an invalid line): poll again now."""
        return any(consumer.more for _, consumer in self.consumers)

    def lagging(self) -> bool:
        """True while some input queue holds lines this role has not acked."""
        return any(consumer.lag_bytes() > 0 for _, consumer in self.consumers)

    def flush_if_due(self) -> None:
        """Group-commit tick for the input log, every producer and every consumer's cursor."""
        self._log.flush_if_due()
        for producer in self.producers.values():
            producer.flush_if_due()
        for _, consumer in self.consumers:
            consumer.flush_if_due()

    def close(self) -> None:
        """Flush and close every file."""
        self._log.close()
        for producer in self.producers.values():
            producer.close()
        for _, consumer in self.consumers:
            consumer.close()
