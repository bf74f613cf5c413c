"""Several combined-stream connections that act as one (200 symbols x several kinds, reference §4.1).

A connection carries at most 1024 streams, and its streams are listed in the URL
(`/stream?streams=a/b/...`): 200 symbols x (bookTicker, aggTrade, trade, depth) is ~800 names and ~18 KB
of URL, beyond what HTTP servers take in one request line (aiohttp, the simulator's server: 8190 bytes).
`plan_connections` splits the names so that every URL stays under MAX_URL_CHARS and every connection
under MAX_STREAMS_PER_CONNECTION; `StreamGroup` runs one `StreamClient` per part.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Unpack

from minibot.market.ws import StreamClient, StreamOptions

MAX_STREAMS_PER_CONNECTION = 1024
MAX_URL_CHARS = 4096
"""Half of the smallest common request-line limit (8 KB), so a proxy-less path to Binance never trips it."""


def plan_connections(
    ws_base_url: str,
    streams: Sequence[str],
    max_url: int = MAX_URL_CHARS,
    max_streams: int = MAX_STREAMS_PER_CONNECTION,
) -> list[list[str]]:
    """Split `streams` (in order) into the fewest consecutive parts whose URL and count fit the limits."""
    if not streams:
        raise ValueError("at least one stream is needed")
    base = len(ws_base_url.rstrip("/") + "/stream?streams=")
    parts: list[list[str]] = [[]]
    length = base
    for name in streams:
        if base + len(name) > max_url:
            raise ValueError(f"stream name {name!r} alone makes a URL longer than {max_url} characters")
        extra = len(name) + (1 if parts[-1] else 0)
        if parts[-1] and (length + extra > max_url or len(parts[-1]) >= max_streams):
            parts.append([])
            length, extra = base, len(name)
        parts[-1].append(name)
        length += extra
    return parts


class StreamGroup:
    """One `StreamClient` per planned connection, with the client's interface (counters summed)."""

    def __init__(
        self,
        ws_base_url: str,
        streams: Sequence[str],
        rng: random.Random | None = None,
        **client: Unpack[StreamOptions],
    ) -> None:
        """`client` holds `StreamClient`'s other arguments, the same for every part."""
        rng = rng if rng is not None else random.Random()
        self.clients = [
            # One generator per client: their reconnect jitters differ, as they should.
            StreamClient(ws_base_url, part, rng=random.Random(rng.getrandbits(64)), **client)
            for part in plan_connections(ws_base_url, streams)
        ]

    def live(self) -> bool:
        """Every connection is live (one stale part means some symbols lack data: REST fallback covers all)."""
        return all(client.live() for client in self.clients)

    @property
    def connects(self) -> int:
        """Connections opened, all parts together."""
        return sum(client.connects for client in self.clients)

    @property
    def messages(self) -> int:
        """Messages received, all parts together."""
        return sum(client.messages for client in self.clients)

    @property
    def malformed(self) -> int:
        """Malformed frames, all parts together."""
        return sum(client.malformed for client in self.clients)

    @property
    def reconnect_durations_ms(self) -> list[int]:
        """Outages seen by every part."""
        return [ms for client in self.clients for ms in client.reconnect_durations_ms]

    async def run(self) -> None:
        """Run every part; returns after `close()`, or raises the first part's unexpected exception."""
        await asyncio.gather(*(client.run() for client in self.clients))

    async def close(self) -> None:
        """Close every part."""
        await asyncio.gather(*(client.close() for client in self.clients))
