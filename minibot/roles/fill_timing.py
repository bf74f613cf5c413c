"""`timing` events of kind `tick_to_fill`: real milliseconds from a market tick's receipt to a fill caused
by it being written (docs/architecture.md "Time": latency measurements are real durations, labelled so).

market_role stamps `recv_perf_ns` (`time.perf_counter_ns()` at receipt) into each market_tick payload and
this role reads the same clock when the fill is written. perf_counter is system-wide, so readings of two
processes compare: QueryPerformanceCounter on Windows (sub-microsecond; `time.time()` ticks every 15.6 ms
there before Python 3.13), CLOCK_MONOTONIC on Linux. It is also monotonic, so a wall-clock step cannot
distort a latency. Wall time is for display only (envelope `ts`). A fill names the tick
it was made at in `tick_id` (the executor fills at ticks only: docs/core.md, "Modelled latency"), so this is
the pipeline's own delay from that tick's receipt to the fill on disk; the modelled order latency is market
time, not measured here. Older fills without `tick_id` are linked through their cause: an intent names the
tick behind its signal, a MAKER fill is caused by the tick that traded through it. The executor's
runner can read an intent before the tick behind it (two queues, one poll order), so a fill whose tick has
not been read yet waits for it; the latency is still the fill's write time minus the tick's receipt time.

These events are observations, not core outputs: they are published by the role process to the `timing`
queue, never through the core, so replay stays exact. They are best effort: a tick without `recv_perf_ns`
gives no event; after a restart the fills the recovery rewrote are not timed; the tick memory is bounded
(`MAX_TICKS` most recent, `MAX_WAITING` fills waiting), the oldest entries are forgotten first. A negative
duration (impossible on one machine's monotonic clock; a tick stamped on another machine) is reported as 0.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from minibot.ids import deterministic_id
from minibot.journal.producer import Producer

KIND = "tick_to_fill"
MAX_TICKS = 50_000
MAX_WAITING = 10_000


class FillTimer:
    """Turns each batch of the executor's runner into `tick_to_fill` timing events."""

    def __init__(self, role: str, run_id: str, producer: Producer) -> None:
        self.role = role
        self.run_id = run_id
        self.producer = producer
        self._recv: OrderedDict[str, int | None] = OrderedDict()  # tick id -> recv_perf_ns (None: not stamped)
        self._waiting: OrderedDict[str, list[tuple[str, int]]] = OrderedDict()  # tick id -> (fill id, written)
        self.published = 0

    def _remember(self, tick: Mapping[str, Any]) -> None:
        recv = tick["payload"].get("recv_perf_ns")
        self._recv[str(tick["id"])] = recv if isinstance(recv, int) and not isinstance(recv, bool) else None
        if len(self._recv) > MAX_TICKS:
            self._recv.popitem(last=False)

    def _event(self, fill_id: str, tick_id: str, recv_perf_ns: int, written_ns: int) -> dict[str, Any]:
        payload = {
            "role": self.role,
            "kind": KIND,
            "latency_ms": round(max(0, written_ns - recv_perf_ns) / 1e6, 3),
            "cause_id": fill_id,
            "tick_id": tick_id,
        }
        return self.producer.event("timing", payload, id_=deterministic_id(self.run_id, self.role, KIND, fill_id))

    def on_batch(
        self, queue: str, inputs: list[Mapping[str, Any]], outputs: Mapping[str, list[dict[str, Any]]]
    ) -> None:
        """Called after a batch's outputs were written: time its fills, and fills waiting for its ticks."""
        written_ns = time.perf_counter_ns()
        events: list[dict[str, Any]] = []
        tick_of: dict[str, str] = {}
        if queue == "market_ticks":
            for tick in inputs:
                self._remember(tick)
                for fill_id, waited_ns in self._waiting.pop(str(tick["id"]), ()):
                    recv = self._recv[str(tick["id"])]
                    if recv is not None:
                        events.append(self._event(fill_id, str(tick["id"]), recv, waited_ns))
        else:
            tick_of = {str(i["id"]): str(i["payload"]["tick_id"]) for i in inputs if "tick_id" in i["payload"]}
        for fill in outputs.get("fills", ()):
            cause = str(fill["payload"]["cause_id"])
            # The tick the fill was made at names itself in `tick_id`; an older fill without it: a MAKER
            # fill is caused by a tick of this batch, a TAKER fill by an intent, which names its tick.
            tick_id = fill["payload"].get("tick_id") or (cause if queue == "market_ticks" else tick_of.get(cause))
            if tick_id is None:
                continue  # an intent without tick_id (written before intents carried it): nothing to time
            if tick_id in self._recv:
                recv = self._recv[tick_id]
                if recv is not None:
                    events.append(self._event(str(fill["id"]), tick_id, recv, written_ns))
            elif queue != "market_ticks":
                self._waiting.setdefault(tick_id, []).append((str(fill["id"]), written_ns))
                if len(self._waiting) > MAX_WAITING:
                    self._waiting.popitem(last=False)
        if events:
            self.published += self.producer.publish(events)
