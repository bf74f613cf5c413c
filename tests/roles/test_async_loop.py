"""The asyncio role loop's precise deadline: the last stretch before a deadline is slept with `time.sleep`."""

from __future__ import annotations

import asyncio
import time

import pytest

from minibot.roles import async_loop
from minibot.roles.async_loop import TIMER_SLACK_S, finish_sleep


def _record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(async_loop.time, "sleep", slept.append)
    return slept


def test_the_stretch_the_loop_timer_leaves_before_a_deadline_is_slept(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _record_sleeps(monkeypatch)
    deadline = time.perf_counter() + TIMER_SLACK_S / 2
    finish_sleep(deadline, asyncio.Event())
    assert len(slept) == 1
    assert 0.0 < slept[0] <= TIMER_SLACK_S / 2


def test_no_sleep_when_the_role_was_woken_the_deadline_passed_or_is_far(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _record_sleeps(monkeypatch)
    woken = asyncio.Event()
    woken.set()
    finish_sleep(time.perf_counter() + TIMER_SLACK_S / 2, woken)  # something to publish: the round runs now
    finish_sleep(time.perf_counter() - 0.001, asyncio.Event())  # already late
    finish_sleep(time.perf_counter() + 1.0, asyncio.Event())  # woken early by another deadline (a commit owed)
    assert slept == []


def test_the_sleep_never_ends_before_the_deadline() -> None:
    for _ in range(20):
        deadline = time.perf_counter() + TIMER_SLACK_S / 2
        finish_sleep(deadline, asyncio.Event())
        assert time.perf_counter() >= deadline
