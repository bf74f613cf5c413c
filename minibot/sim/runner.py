"""Starting and stopping the simulator: in the caller's event loop (`start_simulator`) or in a background
thread for synchronous clients (`SimulatorThread`).

The listening socket is ours, not aiohttp's, so an `outage` fault can close it (new connections are
refused) and reopen it on the same port, or keep it and reset every new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from minibot.clock import RunClock
from minibot.sim.app import build_app, stats_document
from minibot.sim.context import SimContext
from minibot.sim.faults import FaultController
from minibot.sim.market import DEFAULT_SYMBOLS, build_market
from minibot.sim.scenario import Fault, load_scenario
from minibot.sim.stats import Stats
from minibot.sim.weights import RateLimiter
from minibot.sim.ws import Hub

_PUMP_MAX_S = 0.1  # the longest the pump sleeps: a new subscription's first periodic push waits at most this
_PUMP_MIN_S = 0.001
_PUMP_FINE_S = 0.01
_STEP_MS = 100
_REBIND_TRIES = 100
_REBIND_PAUSE_S = 0.05


@dataclass
class SimConfig:
    """How to run the simulator. `scenario`: None, a JSON file path, or an already-parsed dict.
    `start_ms`: the run clock's start (unix ms), None = now. `anchor_unix_s`: the wall time at which the run
    clock read `start_ms` (run.json's clock anchor); with it the simulator shares the run's clock exactly,
    however long its own start-up took. Without it the clock starts when serving begins."""

    host: str = "127.0.0.1"
    port: int = 0
    symbols: list[str] = field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    data_paths: list[str | Path] = field(default_factory=list)
    speed: float = 1.0
    scenario: str | Path | dict[str, Any] | None = None
    seed: int = 0
    start_ms: int | None = None
    anchor_unix_s: float | None = None


def check_loopback(host: str) -> None:
    """The simulator serves loopback only: refuse anything else."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the simulator binds loopback addresses only (127.0.0.1, ::1), not {host!r}")


class _Listener:
    """The listening socket and the asyncio server on it; can go down and come back on the same port."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self.runner = runner
        self.host = host
        self.port = port
        self.server: asyncio.AbstractServer | None = None
        self.reset_mode = False

    def _factory(self) -> asyncio.BaseProtocol:
        if self.reset_mode:
            return _ResetProtocol()
        server = self.runner.server
        assert server is not None
        return server()

    async def open(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if hasattr(socket, "SO_REUSEADDR") and not hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            # POSIX: rebinding the port after an outage must not wait for TIME_WAIT. (On Windows this option
            # would let another process steal the port, and rebinding works without it.)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(512)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self.server = await asyncio.get_running_loop().create_server(self._factory, sock=sock)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def abort_connections(self) -> None:
        server = self.runner.server
        for handler in list(server.connections) if server is not None else []:
            transport = getattr(handler, "transport", None)
            if transport is not None:
                transport.abort()


class _ResetProtocol(asyncio.Protocol):
    """Accepts and immediately resets (SO_LINGER 0) a connection: an outage in "reset" mode."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                # struct linger is two u_short on Windows, two ints elsewhere.
                fmt = "HH" if sys.platform == "win32" else "ii"
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack(fmt, 1, 0))
        cast(asyncio.Transport, transport).abort()


class RunningSimulator:
    """A started simulator; `stop()` it when done."""

    def __init__(self, ctx: SimContext, runner: web.AppRunner, listener: _Listener) -> None:
        self.ctx = ctx
        self._runner = runner
        self._listener = listener
        self._tasks: list[asyncio.Task[None]] = []
        self.stopped = False

    @property
    def port(self) -> int:
        """The TCP port REST and WebSocket share."""
        return self._listener.port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://{_url_host(self._listener.host)}:{self.port}"

    @property
    def ws_base_url(self) -> str:
        """`ws://127.0.0.1:PORT`."""
        return f"ws://{_url_host(self._listener.host)}:{self.port}"

    def stats(self) -> dict[str, Any]:
        """The /sim/stats document (call from the simulator's event loop thread)."""
        return stats_document(self.ctx)

    async def _pump(self) -> None:
        """Advance the market with the run clock and push periodic streams, waking when the next market
        event or periodic push is due (not on a fixed short period: an idle simulator costs no CPU)."""
        ctx = self.ctx
        # Periodic streams (depth, klines, tickers) keep the fine cadence they were built for: a push late
        # by a whole period on a loaded machine would be a missing one.
        fine = min(_PUMP_FINE_S, max(_PUMP_MIN_S, ctx.clock.real_seconds(_STEP_MS) / 2))
        while True:
            now = ctx.sync()
            ctx.hub.periodic(now)
            periodic = ctx.hub.next_due_ms()
            dues = [d for d in (ctx.market.next_due_ms(), periodic) if d is not None]
            wait = ctx.clock.real_seconds(min(dues) - ctx.clock.now_ms()) if dues else _PUMP_MAX_S
            await asyncio.sleep(min(fine if periodic is not None else _PUMP_MAX_S, max(_PUMP_MIN_S, wait)))

    async def _outage_start(self, fault: Fault) -> None:
        self.ctx.hub.abort_all()
        self._listener.abort_connections()
        if fault.params["mode"] == "reset":
            self._listener.reset_mode = True
        else:
            self._listener.close()

    async def _outage_end(self) -> None:
        self._listener.reset_mode = False
        for _ in range(_REBIND_TRIES):
            if self._listener.server is not None:
                return
            try:
                await self._listener.open()
            except OSError:
                # The port can stay busy for a moment after closing (platform dependent): retry briefly.
                self.ctx.stats.faults_injected["outage_rebind_retry"] += 1
                await asyncio.sleep(_REBIND_PAUSE_S)
        if self._listener.server is None:
            raise RuntimeError(f"could not reopen port {self._listener.port} after an outage")

    async def stop(self) -> None:
        """Close every connection and the listener, stop background tasks."""
        if self.stopped:
            return
        self.stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ctx.hub.close_all()
        self._listener.close()
        await self._runner.cleanup()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def start_simulator(cfg: SimConfig) -> RunningSimulator:
    """Build the market, bind the port and start serving; returns once listening."""
    check_loopback(cfg.host)
    scenario = load_scenario(cfg.scenario)
    start_ms = int(time.time() * 1000) if cfg.start_ms is None else int(cfg.start_ms)
    # Reading and validating data files can take seconds: keep the caller's event loop free meanwhile.
    market = await asyncio.to_thread(build_market, cfg.symbols, cfg.data_paths, cfg.seed, start_ms)
    # Without an anchor the run clock starts when the market is ready, so fault windows count from when
    # serving begins; with one (nore run --sim) it is the run's own clock.
    if cfg.anchor_unix_s is None:
        clock = RunClock(start_ms, cfg.speed)
    else:
        clock = RunClock.shared(start_ms, cfg.speed, cfg.anchor_unix_s)
    stats = Stats()
    faults = FaultController(scenario, clock, stats, cfg.seed)
    hub = Hub(market, clock, faults, stats, scenario.ws)
    market.set_sink(hub)
    rl = scenario.rate_limit
    limiter = RateLimiter(rl.weight_per_minute, rl.ban_after, rl.ban_ms)
    ctx = SimContext(clock, market, hub, faults, stats, limiter, scenario, cfg.seed)
    runner = web.AppRunner(build_app(ctx), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    listener = _Listener(runner, cfg.host, cfg.port)
    try:
        await listener.open()
    except OSError:
        await runner.cleanup()
        raise
    running = RunningSimulator(ctx, runner, listener)
    running._tasks.append(asyncio.create_task(running._pump()))
    running._tasks.append(
        asyncio.create_task(faults.run_edges(hub.drop_all, running._outage_start, running._outage_end))
    )
    return running


class SimulatorThread:
    """The simulator on its own event loop in a daemon thread, for synchronous clients.

    `with SimulatorThread(cfg) as sim: sim.base_url; sim.stats()`.
    """

    def __init__(self, cfg: SimConfig, start_timeout_s: float = 30.0) -> None:
        self.cfg = cfg
        self._timeout = start_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: RunningSimulator | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="minibot-sim", daemon=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._running = loop.run_until_complete(start_simulator(self.cfg))
        except BaseException as exc:  # handed to the starting thread, which re-raises it
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._running.stop())
            loop.close()

    def start(self) -> SimulatorThread:
        """Start and wait until listening (re-raises a startup error, e.g. a bad data file)."""
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise TimeoutError("simulator did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop the simulator and join its thread."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> RunningSimulator:
        """The running simulator (read its attributes; call its methods only on its own loop)."""
        assert self._running is not None, "simulator not started"
        return self._running

    @property
    def port(self) -> int:
        """The TCP port."""
        return self.running.port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return self.running.base_url

    @property
    def ws_base_url(self) -> str:
        """`ws://127.0.0.1:PORT`."""
        return self.running.ws_base_url

    def stats(self) -> dict[str, Any]:
        """The /sim/stats document, computed on the simulator's loop (thread-safe)."""
        assert self._loop is not None

        async def snap() -> dict[str, Any]:
            return self.running.stats()

        return asyncio.run_coroutine_threadsafe(snap(), self._loop).result(timeout=10)
