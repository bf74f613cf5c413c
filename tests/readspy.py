"""Records how many bytes each `read(n)` of a file opened through `pathlib.Path.open` asks for.

`read(n)` allocates n bytes before it reads: the journal readers size their reads to what the file holds,
and the tests of those readers check it with this spy (issue 14, item 4: C-heap churn of the supervisor).
"""

from __future__ import annotations

import pathlib
from typing import IO, Any

import pytest


class _SpyFile:
    def __init__(self, inner: IO[bytes], asked: list[int]) -> None:
        self._inner = inner
        self._asked = asked

    def read(self, n: int = -1) -> bytes:
        self._asked.append(n)
        return self._inner.read(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> _SpyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()


def spy_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on every binary `Path.open(...).read(n)` appends n to the returned list."""
    asked: list[int] = []
    real_open = pathlib.Path.open

    def spying_open(self: pathlib.Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real_open(self, mode, *args, **kwargs)
        return _SpyFile(fh, asked) if "b" in mode and "r" in mode else fh

    monkeypatch.setattr(pathlib.Path, "open", spying_open)
    return asked
