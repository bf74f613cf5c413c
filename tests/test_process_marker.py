"""tests/process_marker.py: a test that starts a process or a server unmarked fails, a marked one passes,
and dev.py's `--fast` selection leaves out exactly the `process` and `slow` tests."""

from __future__ import annotations

import importlib.util

import pytest

from tests.shared_data import REPO

pytestmark = pytest.mark.process  # runs an inner pytest session in a child process

INNER = """
import multiprocessing
import socket
import subprocess
import sys
import threading

import pytest


def test_unmarked_spawn():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.mark.process
def test_marked_spawn():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_unmarked_server():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()


def test_unmarked_spawn_from_a_thread():
    worker = threading.Thread(target=subprocess.run, args=([sys.executable, "-c", "pass"],))
    worker.start()
    worker.join(60)


def test_unmarked_multiprocessing():
    child = multiprocessing.get_context("spawn").Process(target=print)
    child.start()
    child.join(60)


@pytest.mark.slow
def test_slow_pure():
    assert True


def test_pure():
    assert True
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest('pytest_plugins = ["tests.process_marker"]\n')
    pytester.makeini("[pytest]\nmarkers =\n    process: p\n    slow: s\n")
    pytester.makepyfile(test_inner=INNER)
    return pytester


def _dev_fast_selection() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location("nore_dev", REPO / "dev.py")
    assert spec is not None and spec.loader is not None
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    return tuple(dev.FAST_SELECTION)


def test_unmarked_processes_and_servers_fail_and_marked_ones_pass(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", timeout=120)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 7 and outcomes.get("errors") == 4, result.stdout.str()
    out = result.stdout.str()
    for name, what in (
        ("test_unmarked_spawn", "subprocess.Popen"),
        ("test_unmarked_server", "socket.listen"),
        ("test_unmarked_spawn_from_a_thread", "subprocess.Popen"),
        ("test_unmarked_multiprocessing", "multiprocessing Process.start"),
    ):
        assert f"test_inner.py::{name} started {what}" in out, out
    assert "test_inner.py::test_marked_spawn started" not in out


def test_dev_fast_selection_leaves_out_process_and_slow_tests(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess(*_dev_fast_selection(), "--collect-only", "-q", timeout=120)
    collected = {line.split("::")[-1] for line in result.stdout.lines if "::" in line}
    assert collected == {
        "test_unmarked_spawn",
        "test_unmarked_server",
        "test_unmarked_spawn_from_a_thread",
        "test_unmarked_multiprocessing",
        "test_pure",
    }
