"""The fan-out of market events to WebSocket connections.

The hub receives every market change once, serialises it once per (time unit, envelope) variant and
queues it on each subscribed connection; a writer task per connection drains its queue (minibot.sim.ws),
so a slow client never stalls the market or other clients (past `max_queue` messages it is dropped).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

import orjson

from minibot.clock import RunClock
from minibot.sim import streams as S
from minibot.sim import tickers as T
from minibot.sim.bars import ws_kline
from minibot.sim.conn import Conn
from minibot.sim.faults import FaultController, StreamView
from minibot.sim.market import Market
from minibot.sim.scenario import Fault, WsSettings
from minibot.sim.state import SymbolState
from minibot.sim.stats import Stats
from minibot.sim.tape import Agg

CLOSE_WAIT_S = 2.0


class Hub:
    """Subscriptions of all connections and the fan-out of market events to them."""

    def __init__(self, market: Market, clock: RunClock, faults: FaultController, stats: Stats, cfg: WsSettings):
        self.market = market
        self.clock = clock
        self.faults = faults
        self.stats = stats
        self.cfg = cfg
        self.subs: dict[str, set[Conn]] = {}
        self.conns: set[Conn] = set()
        self.view = StreamView()
        self._periodic: dict[str, S.StreamName] = {}
        self._due: dict[str, int] = {}
        self._kline_open: dict[str, int] = {}
        self._sent_for_malformed = 0
        # !...@arr stream -> symbol -> (update id, last agg id) at its last push: arrays carry changed symbols.
        self._arr_seen: dict[str, dict[str, tuple[int, int]]] = {}
        # Partial-depth stream -> (update id, payload) of its last push (a stale_book fault repeats it).
        self._last_partial: dict[str, tuple[int, bytes]] = {}
        # depth_gap windows already acted on (per fault), and diff streams owing a gap.
        self._gaps_started: dict[int, int] = {}
        self._gap_keys: set[str] = set()

    # subscriptions -----------------------------------------------------------------------------------
    def subscribe(self, conn: Conn, names: list[str]) -> None:
        """Add streams to a connection (names kept as given; unknown ones stay listed but silent)."""
        for name in names:
            if name in conn.streams:
                continue
            parsed = S.parse_stream(name)
            conn.streams[name] = parsed
            self.subs.setdefault(name, set()).add(conn)
            if parsed is not None and parsed.kind in S.PERIODIC:
                self._periodic[name] = parsed
                st = self.market.states.get(parsed.symbol.upper())
                if parsed.kind == "diff" and st is not None:
                    st.open_diff(name)

    def unsubscribe(self, conn: Conn, names: list[str]) -> None:
        """Remove streams from a connection."""
        for name in names:
            if name not in conn.streams:
                continue
            del conn.streams[name]
            subs = self.subs.get(name)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self.subs[name]
                    parsed = self._periodic.pop(name, None)
                    if parsed is not None and parsed.kind == "diff":
                        st = self.market.states.get(parsed.symbol.upper())
                        if st is not None:
                            st.close_diff(name)
                    self._arr_seen.pop(name, None)
                    self._last_partial.pop(name, None)
                    self._gap_keys.discard(name)
                    self._kline_open.pop(name, None)
                    self._due.pop(name, None)

    def remove(self, conn: Conn) -> None:
        """Forget a closed connection."""
        self.unsubscribe(conn, list(conn.streams))
        self.conns.discard(conn)

    # market events -----------------------------------------------------------------------------------
    def on_book(self, state: SymbolState) -> None:
        """Top of book changed: `@bookTicker`."""
        key = state.spec.lower + "@bookTicker"
        if key in self.subs:
            self._deliver(key, state.spec.symbol, _constant(S.book_ticker(state)))

    def on_agg(self, state: SymbolState, agg: Agg) -> None:
        """A trade happened: `@aggTrade` and the `@trade` events of its fills."""
        lower, symbol, now = state.spec.lower, state.spec.symbol, self.market.now
        key = lower + "@aggTrade"
        if key in self.subs:
            self._deliver(key, symbol, lambda unit: S.agg_trade(symbol, agg, now, unit))
        key = lower + "@trade"
        if key in self.subs:
            variants: dict[int, list[bytes]] = {}

            def fill(unit: int, i: int) -> bytes:
                if unit not in variants:
                    variants[unit] = S.trades(symbol, agg, now, unit)
                return variants[unit][i]

            for i in range(agg.l - agg.f + 1):
                self._deliver(key, symbol, functools.partial(_nth_fill, fill, i))

    def next_due_ms(self) -> int | None:
        """Run time of the next timer-driven push (None: no periodic stream is subscribed)."""
        if not self._periodic:
            return None
        return min(self._due.get(key, 0) for key in self._periodic)

    def periodic(self, now: int) -> None:
        """Timer-driven pushes that are due: klines (every 2 s, 1 s for `1s`), partial and diff depth
        (100 ms / 1000 ms), tickers and avgPrice (1000 ms)."""
        self._note_gap_windows()
        for key, sn in list(self._periodic.items()):
            if now < self._due.get(key, 0):
                continue
            period = sn.period_ms or (1000 if sn.interval == "1s" else 2000)
            self._due[key] = now - now % period + period
            if sn.kind == "arr":
                self._arr(key, sn, now)
                continue
            st = self.market.states.get(sn.symbol.upper())
            if st is None:
                continue
            symbol = st.spec.symbol
            if sn.kind == "depth":
                self._partial(key, st, sn.levels)
            elif sn.kind == "diff":
                self._diff(key, st, now)
            elif sn.kind == "kline":
                self._kline(key, sn, st, now)
            elif sn.kind == "avgPrice":
                self._deliver(key, symbol, functools.partial(T.avg_price_payload, st, now))
            else:
                self._deliver(
                    key, symbol, functools.partial(T.ticker_payload, st, now, kind=sn.kind, window=sn.interval)
                )

    def _partial(self, key: str, st: SymbolState, levels: int) -> None:
        if self.view.stale_book and self.view.is_stale_book(st.spec.symbol):
            frozen = self._last_partial.get(key)
            if frozen is not None:
                self.stats.faults_injected["stale_book"] += 1
                self._deliver(key, st.spec.symbol, _constant(frozen[1]))
            return
        held = self._last_partial.get(key)
        if held is None or held[0] != st.update_id:
            # An unchanged book is pushed again (as Binance does) without serialising it again.
            held = (st.update_id, S.partial_depth(st, levels))
            self._last_partial[key] = held
        self._deliver(key, st.spec.symbol, _constant(held[1]))

    def _diff(self, key: str, st: SymbolState, now: int) -> None:
        symbol = st.spec.symbol
        if self.view.stale_book and self.view.is_stale_book(symbol):
            # Nothing goes out; the range is kept, so the event after the window is still contiguous.
            self.stats.faults_injected["stale_book"] += 1
            return
        if key in self._gap_keys and st.diff_sent.get(key, st.update_id) < st.update_id:
            self._gap_keys.discard(key)
            st.diff_event(key, skip=True)
            self.stats.faults_injected["depth_gap"] += 1
            return
        event = st.diff_event(key)
        if event is not None:
            first, last, levels = event
            self._deliver(key, symbol, functools.partial(S.diff_depth, symbol, first, last, levels, now))

    def _note_gap_windows(self) -> None:
        """Each depth_gap window that started owes one gap to every matching diff stream."""
        faults = self.faults.scenario.faults
        if not any(f.kind == "depth_gap" for f in faults):
            return
        elapsed = self.faults.elapsed()
        for idx, f in enumerate(faults):
            if f.kind != "depth_gap":
                continue
            started = f.starts_until(elapsed)
            if started > self._gaps_started.get(idx, 0):
                self._gaps_started[idx] = started
                self._gap_keys.update(
                    k for k, sn in self._periodic.items() if sn.kind == "diff" and f.matches_symbol(sn.symbol.upper())
                )

    def _arr(self, key: str, sn: S.StreamName, now: int) -> None:
        """All-market ticker array: the symbols whose book or trades changed since the last push."""
        seen = self._arr_seen.setdefault(key, {})
        kind, window = ("window", sn.interval[7:]) if sn.interval.startswith("ticker_") else (sn.interval, "")
        changed = []
        for symbol, st in self.market.states.items():
            mark = (st.update_id, st.aggs[-1].a if st.aggs else -1)
            if seen.get(symbol) != mark and not (self.view.silent and self.view.is_silent(symbol)):
                seen[symbol] = mark
                changed.append(st)
        if changed:
            self._deliver(
                key, "", lambda unit: orjson.dumps([T.ticker_event(st, now, unit, kind, window) for st in changed])
            )

    def _kline(self, key: str, sn: S.StreamName, st: SymbolState, now: int) -> None:
        bars = st.klines(sn.interval, None, None, 1)
        if not bars:
            return
        bar = bars[-1]
        prev_open = self._kline_open.get(key)
        symbol = st.spec.symbol
        if prev_open is not None and prev_open < bar[0]:
            closed = st.klines(sn.interval, prev_open, prev_open, 1)
            if closed:
                self._deliver(key, symbol, _kline_builder(symbol, sn.interval, closed[0], True, now))
        self._kline_open[key] = bar[0]
        self._deliver(key, symbol, _kline_builder(symbol, sn.interval, bar, False, now))

    def _deliver(self, key: str, symbol: str, build: Callable[[int], bytes]) -> None:
        subs = self.subs.get(key)
        if not subs:
            return
        view = self.view
        if view.silent and view.is_silent(symbol):
            self.stats.ws_silenced += len(subs)
            return
        every = view.malformed_every(symbol) if view.malformed else 0
        self.stats.ws_served[key] += len(subs)
        cache: dict[tuple[int, bool], bytes] = {}
        for conn in subs:
            variant = (conn.unit, conn.combined)
            data = cache.get(variant)
            if data is None:
                payload = build(conn.unit)
                data = S.wrap(key, payload) if conn.combined else payload
                cache[variant] = data
            if len(conn.queue) >= self.cfg.max_queue:
                if not conn.closed:
                    self.stats.ws_slow_consumer_closes += 1
                    conn.abort()
                continue
            if every:
                self._sent_for_malformed += 1
                if self._sent_for_malformed % every == 0:
                    # A frame cut in half: invalid JSON, as a broken proxy or a bug on the wire would send.
                    conn.push(data[: len(data) // 2])
                    self.stats.ws_malformed_sent += 1
            conn.push(data)

    # fault actions -----------------------------------------------------------------------------------
    async def drop_all(self, fault: Fault) -> None:
        """ws_disconnect: abort (or close with `close_code`) every live connection."""
        await asyncio.gather(*(self.drop(conn, fault) for conn in list(self.conns)))

    async def drop(self, conn: Conn, fault: Fault) -> None:
        """Drop one connection the way a ws_disconnect fault says."""
        if fault.params["mode"] == "close":
            await _close(conn, int(fault.params["close_code"]), b"ws_disconnect fault")
        else:
            conn.abort()

    def abort_all(self) -> None:
        """Abort every connection (outage)."""
        for conn in list(self.conns):
            conn.abort()

    async def close_all(self) -> None:
        """Close every connection normally (shutdown)."""
        await asyncio.gather(*(_close(conn, 1001, b"server shutdown") for conn in list(self.conns)))


async def _close(conn: Conn, code: int, reason: bytes) -> None:
    """Send a close frame; a client that does not answer within CLOSE_WAIT_S is aborted."""
    conn.closed = True
    conn.wake.set()
    try:
        await asyncio.wait_for(conn.ws.close(code=code, message=reason), CLOSE_WAIT_S)
    except (TimeoutError, ConnectionResetError, RuntimeError):
        conn.abort()


def _nth_fill(fill: Callable[[int, int], bytes], i: int, unit: int) -> bytes:
    return fill(unit, i)


def _constant(payload: bytes) -> Callable[[int], bytes]:
    """A builder for payloads without time fields (the same bytes in either time unit)."""
    return lambda unit: payload


def _kline_builder(symbol: str, interval: str, bar: list[int], closed: bool, now: int) -> Callable[[int], bytes]:
    def build(unit: int) -> bytes:
        return orjson.dumps(
            {"e": "kline", "E": now * unit, "s": symbol, "k": ws_kline(bar, symbol, interval, closed, unit)}
        )

    return build
