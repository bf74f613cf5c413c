"""One WebSocket client connection as the hub sees it: subscriptions, envelope, time unit, outgoing queue."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from minibot.sim.streams import StreamName


class Conn:
    """One client connection: its subscriptions, envelope mode, time unit and outgoing queue."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, combined: bool, unit: int, opened_ms: int):
        self.ws = ws
        self.transport = request.transport
        self.combined = combined
        self.unit = unit
        self.opened_ms = opened_ms
        self.streams: dict[str, StreamName | None] = {}
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.last_pong = time.monotonic()
        self.in_window = 0
        self.in_count = 0

    def push(self, data: bytes) -> None:
        """Queue one frame."""
        self.queue.append(data)
        self.wake.set()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (what a network failure looks like)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self.wake.set()
