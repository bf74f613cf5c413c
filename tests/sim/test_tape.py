"""AggTape, the simulator's column store of aggregate trades, against a plain list of the same trades."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minibot.sim.tape import Agg, AggTape

E8 = 10**8

# One step: append a trade (its time step, fill quantities or None) or forget the n oldest.
_append = st.tuples(
    st.just("append"),
    st.integers(0, 3),
    st.none() | st.lists(st.integers(1, 5 * E8), max_size=8).map(tuple),
)
_forget = st.tuples(st.just("forget"), st.integers(-1, 12), st.none())


def _agg(n: int, t: int, parts: tuple[int, ...] | None) -> Agg:
    qty = sum(parts) if parts else 7 * E8
    fills = len(parts) if parts else 1  # () as None: expand() splits the quantity evenly
    return Agg(1000 + n, 60_000 * E8 + n, qty, 5000 + 3 * n, 5000 + 3 * n + fills - 1, t, n % 3 == 0, parts)


@settings(max_examples=300, deadline=None)
@given(st.lists(_append | _forget, max_size=120), st.integers(-3, 40), st.integers(0, 200))
# Forgetting trades with and without fill quantities, then reading the first kept one's.
@example([("append", 1, (1, 2)), ("append", 0, None), ("append", 1, (3,)), ("forget", 2, None)], 0, 1)
@example([("append", 1, (5,)), ("append", 0, ()), ("append", 1, (1, 2)), ("forget", 2, None)], 0, 1)
def test_tape_reads_as_the_list_it_stands_for(steps: list[tuple[str, int, object]], probe: int, t_probe: int) -> None:
    tape, ref = AggTape(), []
    t = n = 0
    for kind, k, parts in steps:
        if kind == "append":
            t += k
            agg = _agg(n, t, parts)  # type: ignore[arg-type]
            n += 1
            tape.append(agg)
            ref.append(agg)
        else:
            tape.forget(k)
            del ref[: max(0, k)]
        assert len(tape) == len(ref)
        # Forgotten trades free their fill quantities too.
        assert len(tape._parts) == sum(len(a.parts) for a in ref if a.parts)
    assert list(tape) == ref and list(reversed(tape)) == ref[::-1]
    assert tape[probe : probe + 5] == ref[probe : probe + 5] and tape[-probe:] == ref[-probe:]
    if -len(ref) <= probe < len(ref):
        assert tape[probe] == ref[probe]
    else:
        with pytest.raises(IndexError, match="out of range"):
            tape[probe]
    assert tape.bisect_time(t_probe) == bisect.bisect_left(ref, t_probe, key=lambda a: a.T)
    assert tape.bisect_time(t_probe, right=True) == bisect.bisect_right(ref, t_probe, key=lambda a: a.T)
    last_id = 5000 + t_probe * 2
    assert tape.bisect_last_id(last_id) == bisect.bisect_left(ref, last_id, key=lambda a: a.l)
    other = AggTape()
    for agg in ref:
        other.append(agg)
    assert tape == other


def test_a_trade_costs_a_few_dozen_bytes_not_an_agg_tuple() -> None:
    tape = AggTape()
    for n in range(10_000):
        tape.append(_agg(n, n, (E8, 2 * E8, 3 * E8)))
    columns = [getattr(tape, name) for name in AggTape.__slots__ if name != "_parts_dropped"]
    per_trade = sum(c.itemsize * len(c) for c in columns) / len(tape)
    assert per_trade <= 90  # 7 columns + offset + count + 3 quantities; an Agg with its ints was ~450
