"""Binance combined market streams over WebSocket (reference §4): `/stream?streams=a/b/...`.

Connection lifecycle, in one loop that never crashes on bad input:
- the subscriptions travel in the URL, so every reconnect resubscribes by construction;
- Binance pings every 20 s and drops a connection that does not pong within a minute: aiohttp's
  autoping answers each ping with its payload;
- a connection is closed by the server at 24 h; we leave first, after `proactive_reconnect_ms`
  (default 23 h), opening the successor before closing the old one; a `serverShutdown` event does the same;
- no frame for `stale_stream_ms` means the stream is silently dead even if TCP is up: reconnect (the
  feed meanwhile falls back to REST);
- a failed or lost connection is retried after an exponential backoff with full jitter
  (uniform(0, min(max, base * 2^attempt))), reset once a connection has delivered data, so a fleet of
  clients does not reconnect in lockstep;
- a frame that is not the documented shape is counted and skipped, and reported as a status note.
All durations are run-clock ms, so `--speed N` shortens them N times.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Required, TypedDict

import aiohttp
import orjson

from minibot.clock import RunClock
from minibot.market.models import MalformedMessage, MarketMessage, parse_stream_payload
from minibot.market.rest import DIRECT

StatusKind = Literal["connected", "disconnected", "malformed", "stale", "proactive_reconnect", "server_shutdown"]


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """A lifecycle note from the stream client (the feed turns these into health notes)."""

    kind: StatusKind
    detail: str
    ts: int  # run-clock ms


def stream_names(symbols: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """`<symbol lowercase>@<kind>` for every symbol and stream kind (bookTicker, aggTrade, trade, depth20@100ms)."""
    return [f"{symbol.lower()}@{kind}" for symbol in symbols for kind in kinds]


def full_jitter_ms(rng: random.Random, attempt: int, base_ms: float, max_ms: float) -> float:
    """Backoff before reconnect attempt `attempt` (0-based): uniform in [0, min(max, base * 2^attempt)]."""
    return rng.uniform(0.0, min(max_ms, base_ms * (2.0 ** min(attempt, 30))))


class StreamOptions(TypedDict, total=False):
    """`StreamClient`'s arguments besides its URL, streams and random generator (what `StreamGroup` passes on
    to each of its connections)."""

    clock: Required[RunClock]
    on_message: Required[Callable[[MarketMessage], Awaitable[None]]]
    on_status: Callable[[StreamStatus], None] | None
    backoff_base_ms: float
    backoff_max_ms: float
    proactive_reconnect_ms: int
    stale_stream_ms: int
    connect_timeout_s: float


class StreamClient:
    """One combined-stream connection, kept alive until `close()`."""

    def __init__(
        self,
        ws_base_url: str,
        streams: Sequence[str],
        clock: RunClock,
        on_message: Callable[[MarketMessage], Awaitable[None]],
        on_status: Callable[[StreamStatus], None] | None = None,
        backoff_base_ms: float = 500.0,
        backoff_max_ms: float = 30_000.0,
        proactive_reconnect_ms: int = 23 * 3_600_000,
        stale_stream_ms: int = 30_000,
        connect_timeout_s: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        if not streams:
            raise ValueError("at least one stream is needed")
        self.url = ws_base_url.rstrip("/") + "/stream?streams=" + "/".join(streams)
        self.clock = clock
        self.on_message = on_message
        self.on_status = on_status
        self.backoff_base_ms = backoff_base_ms
        self.backoff_max_ms = backoff_max_ms
        self.proactive_reconnect_ms = proactive_reconnect_ms
        self.stale_stream_ms = stale_stream_ms
        self.connect_timeout_s = connect_timeout_s
        self.rng = rng if rng is not None else random.Random()
        self.connected = False
        self.connects = 0
        self.malformed = 0
        self.messages = 0
        self.last_message_ms: int | None = None
        self.last_backoff_ms = 0.0
        self.connected_ms: int | None = None
        # Run-clock ms from losing a connection to the next one being up (the outage the stream saw).
        self.reconnect_durations_ms: deque[int] = deque(maxlen=1000)
        self._lost_ms: int | None = None
        self._closing = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    def live(self) -> bool:
        """Connected, and a well-formed message arrived within stale_stream_ms.

        A fresh connection is not live by itself: after an outage or a silent stream it must deliver before
        the feed stops its REST fallback. Only before the very first message does the connect time count.
        """
        if not self.connected or self.connected_ms is None:
            return False
        last = self.last_message_ms if self.last_message_ms is not None else self.connected_ms
        return self.clock.now_ms() - last < self.stale_stream_ms

    def _status(self, kind: StatusKind, detail: str) -> None:
        if self.on_status is not None:
            self.on_status(StreamStatus(kind, detail, self.clock.now_ms()))

    async def close(self) -> None:
        """Stop the client: closes the live connection and makes `run` return."""
        self._closing.set()
        if self._ws is not None:
            await self._ws.close()

    async def run(self) -> None:
        """Connect, pump frames, reconnect with backoff; returns only after `close()`."""
        attempt = 0
        handoff: aiohttp.ClientWebSocketResponse | None = None
        # Direct, never through a proxy (minibot.market.rest.DIRECT says why).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), trust_env=DIRECT) as session:
            while not self._closing.is_set():
                reason = "disconnected"
                delivered = False
                ws, handoff = handoff, None
                if ws is None:
                    try:
                        ws = await self._connect(session)
                    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                        self._status("disconnected", f"connect failed: {type(exc).__name__}: {exc}")
                if ws is not None:
                    self._opened(ws)
                    try:
                        # close() may have run while the handshake was in flight, before _ws was set.
                        if not self._closing.is_set():
                            reason, delivered = await self._pump(ws)
                        if reason in ("proactive_reconnect", "server_shutdown") and not self._closing.is_set():
                            # Make before break: the successor is up before the old connection goes.
                            handoff = await self._connect(session)
                    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                        self._status("disconnected", f"{type(exc).__name__}: {exc}")
                    finally:
                        if handoff is None:
                            self.connected = False
                            self._ws = None
                            self._lost_ms = self.clock.now_ms()
                        await ws.close()
                if self._closing.is_set():
                    if handoff is not None:
                        await handoff.close()
                    break
                if delivered:
                    attempt = 0
                if reason in ("proactive_reconnect", "server_shutdown"):
                    continue  # a planned leave: connect again at once, the old session was healthy
                self.last_backoff_ms = full_jitter_ms(self.rng, attempt, self.backoff_base_ms, self.backoff_max_ms)
                attempt += 1
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.clock.real_seconds(self.last_backoff_ms))

    async def _connect(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        """Open one connection (handshake bounded by connect_timeout_s); raises the transport's errors."""
        return await asyncio.wait_for(
            session.ws_connect(self.url, autoping=True, max_msg_size=1 << 20),
            self.connect_timeout_s,  # wall-clock, like every transport timeout
        )

    def _opened(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self.connected = True
        self.connects += 1
        self.connected_ms = self.clock.now_ms()
        if self._lost_ms is not None:
            self.reconnect_durations_ms.append(self.connected_ms - self._lost_ms)
            self._lost_ms = None
        self._status("connected", self.url)

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[str, bool]:
        """Read frames until the connection ends; returns (why it ended, whether data arrived)."""
        opened = self.clock.now_ms()
        last_frame = opened
        delivered = False

        def left(now: int) -> tuple[int, int]:
            """Run-clock ms left until the stream counts as stale, and until the connection must be left."""
            return last_frame + self.stale_stream_ms - now, opened + self.proactive_reconnect_ms - now

        wait = _FrameWait(lambda: min(left(self.clock.now_ms())), self.clock.real_seconds)
        try:
            while True:
                now = self.clock.now_ms()
                stale_left, proactive_left = left(now)
                if proactive_left <= 0:
                    self._status("proactive_reconnect", f"connection age {now - opened} ms")
                    return "proactive_reconnect", delivered
                if stale_left <= 0:
                    self._status("stale", f"no frame for {now - last_frame} ms")
                    return "stale", delivered
                msg = await wait.receive(ws, min(stale_left, proactive_left))
                if msg is None:
                    continue  # the deadlines above decide what a quiet period means
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    if not self._closing.is_set():
                        self._status("disconnected", f"closed by peer: code={ws.close_code}")
                    return "disconnected", delivered
                if msg.type == aiohttp.WSMsgType.ERROR:
                    self._status("disconnected", f"error: {ws.exception()}")
                    return "disconnected", delivered
                if msg.type != aiohttp.WSMsgType.TEXT:
                    self._malformed(f"unexpected {msg.type.name} frame")
                    continue
                outcome = await self._handle_text(msg.data)
                if outcome == "server_shutdown":
                    self._status("server_shutdown", "serverShutdown event")
                    return "server_shutdown", delivered
                if outcome == "data":
                    delivered = True
                if outcome != "malformed":
                    # Only a well-formed frame proves the stream alive: a flood of garbage is as stale as silence.
                    last_frame = self.clock.now_ms()
        finally:
            wait.close()

    def _malformed(self, detail: str) -> None:
        self.malformed += 1
        self._status("malformed", detail)

    async def _handle_text(self, text: str) -> str:
        """Parse and deliver one text frame -> "data", "control", "server_shutdown" or "malformed"."""
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._malformed(f"not JSON: {text[:80]!r}")
            return "malformed"
        if not isinstance(frame, dict):
            self._malformed(f"not an object: {text[:80]!r}")
            return "malformed"
        if "id" in frame and ("result" in frame or "code" in frame):
            return "control"  # a reply to a control message; we send none, so nothing to match
        stream, data = frame.get("stream"), frame.get("data")
        if not isinstance(stream, str):
            self._malformed(f"no stream name: {text[:80]!r}")
            return "malformed"
        if isinstance(data, dict) and data.get("e") == "serverShutdown":
            return "server_shutdown"
        try:
            message = parse_stream_payload(stream, data)
        except MalformedMessage as exc:
            self._malformed(str(exc))
            return "malformed"
        self.messages += 1
        self.last_message_ms = self.clock.now_ms()
        await self.on_message(message)
        return "data"


class _FrameWait:
    """The pump's wait for a frame, cut short once the connection's deadline (stale stream, proactive
    reconnect) has passed.

    The wait itself has no timeout: creating an asyncio timeout per frame cost ~10 % of market_role's CPU at
    `--speed 60` (aiohttp skips its own when none is asked for). One timer per deadline instead: when it fires
    during a wait and the deadline has really passed (frames may have moved it on meanwhile: then it is set
    again), it cancels the waiting task, and `receive` returns None."""

    def __init__(self, left_ms: Callable[[], int], real_seconds: Callable[[float], float]) -> None:
        self._left_ms = left_ms  # run-clock ms until the nearer deadline, now
        self._real_seconds = real_seconds
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None  # a coroutine run by asyncio always has one
        self._task = task
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = False
        self._interrupted = False

    async def receive(self, ws: aiohttp.ClientWebSocketResponse, left_ms: int) -> aiohttp.WSMessage | None:
        """The next message, or None when the deadline `left_ms` (run-clock ms) from now passed first."""
        if self._timer is None:
            self._timer = self._loop.call_later(self._real_seconds(left_ms), self._due)
        self._waiting = True
        try:
            return await ws.receive()
        except asyncio.CancelledError:
            if not self._interrupted:
                raise
            self._interrupted = False
            if self._task.uncancel() > 0:
                raise  # cancelled by its caller as well
            return None
        finally:
            self._waiting = False

    def _due(self) -> None:
        self._timer = None
        if not self._waiting:
            return  # the next `receive` sets the timer again
        left = self._left_ms()
        if left > 0:
            self._timer = self._loop.call_later(self._real_seconds(left), self._due)
        else:
            self._interrupted = True
            self._task.cancel()

    def close(self) -> None:
        """Cancel the timer (the connection is being left)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
