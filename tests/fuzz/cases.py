"""Shared pieces of the fuzz suite: bounded hypothesis settings, a case counter, structure-aware mutations."""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Bounded for CI on a loaded 2-core machine (the whole suite ~10 s of CPU, under a minute of wall time);
# NORE_FUZZ_EXAMPLES=2000 for a longer hunt.
FUZZ = settings(
    max_examples=int(os.environ.get("NORE_FUZZ_EXAMPLES", "120")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
CASES: Counter[str] = Counter()  # cases run per target; conftest prints them at the end of the session


def work_dir(prefix: str) -> Path:
    """A temporary folder for one fuzz module, removed when the test process exits (hypothesis runs many
    examples per test, so a function-scoped `tmp_path` would be shared by them anyway)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


# Values a hostile or careless file puts where something else was expected.
HOSTILE_VALUES = st.one_of(
    st.sampled_from(
        [
            float("nan"),
            float("inf"),
            float("-inf"),
            10**30,
            -(10**30),
            -1,
            0,
            -0.5,
            1e308,
            "",
            "../escape",
            "/abs/path",
            "C:\\x",
            "\x00",
            "\udcff",
            True,
            None,
            [],
            {},
            [[[[[]]]]],
        ]
    ),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def paths_of(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside `doc` (objects and arrays), the root excluded."""
    out: list[tuple[Any, ...]] = []
    items: list[tuple[Any, Any]] = (
        list(doc.items()) if isinstance(doc, dict) else list(enumerate(doc)) if isinstance(doc, list) else []
    )
    for key, value in items:
        out.append((*prefix, key))
        out.extend(paths_of(value, (*prefix, key)))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any, max_mutations: int = 3) -> Any:
    """`base` with 1..max_mutations changes: a value replaced, a key deleted, an extra key, deep nesting."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=max_mutations))):
        paths = paths_of(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        kind = draw(st.sampled_from(["replace", "replace", "delete", "extra", "nest"]))
        if kind == "replace":
            parent[path[-1]] = draw(HOSTILE_VALUES)
        elif kind == "delete":
            del parent[path[-1]]
        elif kind == "extra" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(HOSTILE_VALUES)
        elif kind == "nest":
            value: Any = parent[path[-1]]
            for _ in range(draw(st.integers(min_value=1, max_value=60))):
                value = {"x": value} if draw(st.booleans()) else [value]
            parent[path[-1]] = value
    return doc


def flip_bytes(data: bytes, positions: list[int], values: list[int]) -> bytes:
    """`data` with a few bytes overwritten (positions taken modulo its length)."""
    out = bytearray(data)
    for pos, value in zip(positions, values, strict=False):
        if out:
            out[pos % len(out)] = value
    return bytes(out)
