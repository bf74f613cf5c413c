"""Pytest plugin: a test that starts an OS process or listens on a socket must be marked `process`.

`python3 dev.py test --fast` runs `-m "not process and not slow"` for the edit-test loop; it stays fast only
if every test that starts a process (subprocess, asyncio subprocess, multiprocessing, `nore` runs) or a
server (the simulator, an HTTP stub) carries the marker. Rather than guess that from a module's imports,
the plugin watches what each test really does, in its setup, body and teardown (fixtures included, also
from threads it started): `subprocess.Popen`, `multiprocessing`'s `Process.start` and `socket.listen` are
wrapped to note the running test, and an unmarked test that reached one fails with the call it made and
the line to add. Calls made outside any test (collection, session fixtures) are not attributed.
"""

from __future__ import annotations

import multiprocessing.process
import socket
import subprocess
from collections.abc import Callable, Generator
from typing import Any

import pytest

MARKER = "process"
_current: list[pytest.Item] = []  # the running test; a list so the wrappers read it without a global
_starts: dict[str, list[str]] = {}  # nodeid -> what it started, for unmarked tests only


def _noting(what: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """`original` wrapped to record `what` against the running test when that test is not marked."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _current and _current[0].get_closest_marker(MARKER) is None:
            _starts.setdefault(_current[0].nodeid, []).append(what)
        return original(*args, **kwargs)

    return wrapper


def pytest_configure(config: pytest.Config) -> None:
    """Wrap the process and server entry points once per session (the originals are restored at the end)."""
    originals = (
        (subprocess.Popen, "__init__", "subprocess.Popen"),
        (multiprocessing.process.BaseProcess, "start", "multiprocessing Process.start"),
        (socket.socket, "listen", "socket.listen (a server)"),
    )
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in originals]
    for owner, name, what in originals:
        setattr(owner, name, _noting(what, getattr(owner, name)))

    def restore() -> None:
        for owner, name, original in saved:
            setattr(owner, name, original)

    config.add_cleanup(restore)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """Attribute every call made while `item` runs (setup, call, teardown) to it."""
    _current.append(item)
    try:
        yield
    finally:
        _current.clear()
        _starts.pop(item.nodeid, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Turn the teardown report of an unmarked test that started a process or server into a failure."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    started = _starts.get(item.nodeid)
    if call.when != "teardown" or not started:
        return
    report.outcome = "failed"
    report.longrepr = (
        f"{item.nodeid} started {', '.join(sorted(set(started)))} but is not marked `{MARKER}`: add "
        f"`@pytest.mark.{MARKER}` to it (or `pytestmark = pytest.mark.{MARKER}` to its module) so that "
        "`dev.py test --fast` leaves it out (tests/process_marker.py)"
    )
