"""The stream pump's wait for a frame (minibot/market/ws.py `_FrameWait`): cut short by the connection's
deadline, never by anything else, and never swallowing a cancellation that is not its own.

The connection here is a stand-in whose `receive` waits on a future the test resolves (or never does); the
real connection is exercised against the simulator in test_against_sim.py (silent stream, proactive
reconnect)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from minibot.market.ws import _FrameWait

TEXT = aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, "{}", None)


class _Connection:
    """`receive` waits until the test hands it a message (or forever)."""

    def __init__(self) -> None:
        self.next: asyncio.Future[aiohttp.WSMessage] | None = None

    async def receive(self) -> aiohttp.WSMessage:
        self.next = asyncio.get_running_loop().create_future()
        return await self.next


def _seconds(run_ms: float) -> float:
    return run_ms / 1000.0


def test_the_deadline_cuts_a_silent_wait_and_leaves_the_task_usable() -> None:
    async def main() -> tuple[object, int, str]:
        wait = _FrameWait(lambda: 0, _seconds)  # the deadline is always already due when the timer fires
        got = await wait.receive(_Connection(), 20)  # type: ignore[arg-type]
        task = asyncio.current_task()
        assert task is not None
        await asyncio.sleep(0)  # the task was not left cancelled
        wait.close()
        return got, task.cancelling(), "went on"

    assert asyncio.run(asyncio.wait_for(main(), 5)) == (None, 0, "went on")


def test_a_deadline_moved_on_by_frames_does_not_cut_the_wait() -> None:
    async def main() -> aiohttp.WSMessage | None:
        left = iter([30, 0])  # first firing: 30 ms are still left (frames came), so the timer is set again
        wait = _FrameWait(lambda: next(left), _seconds)
        connection = _Connection()
        receiving = asyncio.ensure_future(wait.receive(connection, 10))  # type: ignore[arg-type]
        await asyncio.sleep(0.025)  # the first firing (10 ms) has passed, the second (+30 ms) not yet
        assert not receiving.done()
        assert connection.next is not None
        connection.next.set_result(TEXT)
        got = await receiving
        wait.close()
        return got

    assert asyncio.run(asyncio.wait_for(main(), 5)) is TEXT


def test_a_cancellation_from_outside_goes_through() -> None:
    async def pump() -> None:
        wait = _FrameWait(lambda: 60_000, _seconds)
        try:
            await wait.receive(_Connection(), 60_000)  # type: ignore[arg-type]
        finally:
            wait.close()

    async def main() -> None:
        task = asyncio.ensure_future(pump())
        await asyncio.sleep(0.01)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(asyncio.wait_for(main(), 5))


def test_an_outside_cancellation_at_the_deadline_is_not_swallowed() -> None:
    """The caller cancels the pump in the very moment the deadline cuts its wait (here from inside the
    deadline's own look at the clock): the wait ends for the deadline, and the caller's cancellation still
    reaches the pump instead of being taken back with the deadline's own."""

    async def pump() -> str:
        task = asyncio.current_task()
        assert task is not None

        def left_ms() -> int:
            task.cancel()  # the caller's cancellation, in the same loop step as the deadline's
            return 0

        wait = _FrameWait(left_ms, _seconds)
        try:
            await wait.receive(_Connection(), 10)  # type: ignore[arg-type]
        finally:
            wait.close()
        return "swallowed"

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(asyncio.wait_for(pump(), 5))
