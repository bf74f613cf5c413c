"""Labels: the sign of the forward mid return over `horizon_ms`, known once the horizon has passed (R-I5).

Pure: event time only. A sample taken at `ts` is labelled by the first tick of its symbol at or after
`ts + horizon_ms`:
- label 1 when log(mid_then / mid_now) > min_abs_return, 0 when it is < -min_abs_return;
- dropped as `flat` when |return| <= min_abs_return (the model estimates P(up | the price moved));
- dropped as `stale` when that first tick arrives later than `ts + 2 * horizon_ms` (a data gap: the price
  at the horizon is unknown, and a later one would label a different question).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    """One feature vector waiting for its label, with the active model's prediction when it was taken."""

    ts: int
    symbol: str
    mid: float
    features: tuple[float, ...]
    feature_hash: str
    p_up: float | None
    model_version: str | None


@dataclass(frozen=True, slots=True)
class LabeledRow:
    """A sample with its label and realized forward log return."""

    sample: Sample
    label: int
    fwd_ret: float


class LabelQueue:
    """Pending samples per symbol, resolved in event-time order."""

    def __init__(self, horizon_ms: int, min_abs_return: float) -> None:
        if horizon_ms <= 0:
            raise ValueError(f"horizon_ms must be > 0, got {horizon_ms}")
        self.horizon_ms = horizon_ms
        self.min_abs_return = min_abs_return
        self._pending: dict[str, deque[Sample]] = {}
        self.dropped_flat = 0
        self.dropped_stale = 0

    def push(self, sample: Sample) -> None:
        """Queue a sample; samples of one symbol must come in non-decreasing `ts`."""
        self._pending.setdefault(sample.symbol, deque()).append(sample)

    def resolve(self, symbol: str, ts: int, mid: float) -> list[LabeledRow]:
        """Label every pending sample of `symbol` whose horizon has passed at event time `ts`."""
        queue = self._pending.get(symbol)
        out: list[LabeledRow] = []
        if not queue:
            return out
        horizon = self.horizon_ms
        log_mid = math.log(mid)
        while queue and queue[0].ts + horizon <= ts:
            sample = queue.popleft()
            if ts > sample.ts + 2 * horizon:
                self.dropped_stale += 1
                continue
            ret = log_mid - math.log(sample.mid)
            if abs(ret) <= self.min_abs_return:
                self.dropped_flat += 1
                continue
            out.append(LabeledRow(sample, 1 if ret > 0.0 else 0, ret))
        return out

    def pending(self) -> int:
        """Samples still waiting for their horizon."""
        return sum(len(q) for q in self._pending.values())
