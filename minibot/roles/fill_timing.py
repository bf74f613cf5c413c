"""`timing` events of kind `tick_to_fill`: the pipeline latency of each fill (docs/core.md, "Pipeline latency").

Pipeline latency: real (wall-clock) time from market_role's receipt of the tick a fill is made at to the fill
line being durable, i.e. having completed the fills queue's fsync policy (`always` in the shipped config:
the fsync of the segment returned; `group`: the group commit that covered it; `none`: the write). It is
the delay the processes, queues and disk add; nothing modelled is in it:
- the modelled order latency (`execution.latency_ms`, market time) is not: an order reaches the book at the
  first tick of its symbol at or after its arrival time, and its fill names that tick in `tick_id`, so the
  clock starts when that tick was received, after the modelled latency has passed on the market timeline;
- the conflation hold of a book (`binance.conflation_ms`) is not: a conflated tick's stamp is the end of
  its window (minibot/roles/tick_builder.py), when it takes its place on the timeline.

market_role stamps `recv_perf_ns` (`time.perf_counter_ns()` at receipt) into each market_tick payload; this
role reads the same clock when the fill is durable (`Producer.durable_ns`). perf_counter is system-wide, so
readings of two processes compare: QueryPerformanceCounter on Windows (sub-microsecond; `time.time()` ticks
every 15.6 ms there before Python 3.13), CLOCK_MONOTONIC on Linux. It is also monotonic, so a wall-clock
step cannot distort a latency. A negative duration (a tick stamped on another machine) is reported as 0.

The executor fills at ticks only, while stepping that tick, so a fill's tick is always in the batch that
made it: nothing has to be remembered across batches. A fill under a `group` policy waits in memory until
its group commit (`publish_durable`, also called on the role's idle flush tick).

These events are observations, not core outputs: they are published by the role process to the `timing`
queue, never through the core, so replay stays exact. They are best effort and counted when missing
(`untimed`): a tick without `recv_perf_ns` gives no event, nor do the fills restart recovery rewrote, nor
fills still waiting for a group commit when the process ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.ids import deterministic_id
from minibot.journal.producer import Producer

KIND = "tick_to_fill"


def receipt_stamp(tick: Mapping[str, Any]) -> int | None:
    """The tick's `recv_perf_ns`, None when it carries none (or not an integer)."""
    recv = tick["payload"].get("recv_perf_ns")
    return recv if isinstance(recv, int) and not isinstance(recv, bool) else None


class FillTimer:
    """Turns the fills of the executor's batches into `tick_to_fill` timing events once they are durable."""

    def __init__(self, role: str, run_id: str, timing: Producer, fills: Producer) -> None:
        self.role = role
        self.run_id = run_id
        self.timing = timing
        self.fills = fills
        self._pending: list[tuple[str, str, int]] = []  # (fill id, tick id, recv_perf_ns) awaiting durability
        self.published = 0
        self.untimed = 0

    def _event(self, fill_id: str, tick_id: str, recv_perf_ns: int, durable_ns: int) -> dict[str, Any]:
        payload = {
            "role": self.role,
            "kind": KIND,
            "latency_ms": round(max(0, durable_ns - recv_perf_ns) / 1e6, 3),
            "cause_id": fill_id,
            "tick_id": tick_id,
        }
        return self.timing.event("timing", payload, id_=deterministic_id(self.run_id, self.role, KIND, fill_id))

    def on_batch(
        self, queue: str, inputs: list[Mapping[str, Any]], outputs: Mapping[str, list[dict[str, Any]]]
    ) -> None:
        """Called after a batch's outputs were published: time its fills (each names its tick in `tick_id`)."""
        fills = outputs.get("fills")
        if not fills:
            return
        received = {str(tick["id"]): receipt_stamp(tick) for tick in inputs} if queue == "market_ticks" else {}
        for fill in fills:
            tick_id = str(fill["payload"].get("tick_id"))
            recv = received.get(tick_id)
            if recv is None:
                self.untimed += 1
            else:
                self._pending.append((str(fill["id"]), tick_id, recv))
        self.publish_durable()

    def publish_durable(self) -> None:
        """Publish the timing events of the fills that are durable now (all or none: one fills journal)."""
        if not self._pending:
            return
        durable_ns = self.fills.durable_ns()
        if durable_ns is None:
            return  # a group commit is still due
        events = [self._event(fill_id, tick_id, recv, durable_ns) for fill_id, tick_id, recv in self._pending]
        self._pending = []
        self.published += self.timing.publish(events)

    def close(self) -> None:
        """Count the fills that never became durable while this process ran (a group commit cut short)."""
        self.untimed += len(self._pending)
        self._pending = []
