"""The embedded simulator of `nore run --sim`: its own process on 127.0.0.1, and the run clock taken from it.

The simulator builds its market before it serves, which can take seconds with recorded data, so rather than
handing it a clock anchor (`--start-ms/--clock-anchor`, for tools that own the clock) the supervisor adopts
the simulator's clock once it is serving: it asks `/sim/stats` for `start_ms` and `now_ms` and maps them
onto the system-wide perf counter (minibot.clock) at the midpoint of that round trip (error: half a
loopback round trip, about a millisecond). Every role then shares that clock through run.json's anchor, so
simulator time and run time agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from minibot.clock import NS_PER_MS, RunClock
from minibot.reasons import Refusal
from minibot.runlayout import SIM_STDERR_FILE
from minibot.watchdog.launch import child_python, kill_tree, role_environ
from minibot.watchdog.procs import popen_group_kwargs

LISTENING_PREFIX = "listening on "
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 10.0
STATS_EVERY_S = 10.0  # wall seconds between the supervisor's keep-a-copy reads of /sim/stats
# The simulator is on loopback: never through a proxy. urlopen's default opener follows HTTP(S)_PROXY and,
# on Windows, the registry's proxy settings, whose usual `<local>` bypass does not cover 127.0.0.1.
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SimulatorFailed(Refusal, RuntimeError):
    """The simulator did not start (bad data file or scenario, no port...); the message says why."""


@dataclass(frozen=True)
class SimClock:
    """The simulator's run clock, as this process sees it."""

    start_ms: int
    speed: float
    anchor_unix_s: float  # wall time at which the run clock read start_ms (the label run.json shows)
    anchor_perf_ns: int  # the same moment on the system-wide perf counter (what every process runs on)

    def clock(self) -> RunClock:
        """A RunClock reading the same time as the simulator's."""
        return RunClock.shared(self.start_ms, self.speed, self.anchor_unix_s, self.anchor_perf_ns)


class SimulatorProcess:
    """`python -m minibot.sim.serve` on loopback, started and stopped by the supervisor."""

    def __init__(
        self,
        log_dir: Path,
        speed: float,
        symbols: list[str],
        seed: int = 0,
        data: list[Path] | None = None,
        scenario: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        config = {
            "host": "127.0.0.1",
            "port": 0,
            "symbols": list(symbols),
            "data_paths": [str(Path(path).resolve()) for path in data or []],
            "speed": float(speed),
            "scenario": None if scenario is None else str(Path(scenario).resolve()),
            "seed": seed,
            "start_ms": None,
            "anchor_unix_s": None,
        }
        # Not the `nore sim` command line: see minibot/sim/serve.py (typer's parsing costs ~12 MB all night).
        self.args = [child_python(), "-m", "minibot.sim.serve", json.dumps(config)]
        self.log_dir = log_dir
        # The allocator setting the roles run with (minibot/watchdog/launch.py MALLOC_ENV): a freed large
        # buffer must not keep its heap grown for the rest of the night.
        self.env = role_environ(os.environ if env is None else env)
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self._stderr: IO[str] | None = None
        self._drain: threading.Thread | None = None
        self.last_stats: dict[str, Any] | None = None
        self._stats_due = 0.0

    @property
    def ws_url(self) -> str:
        """`ws://127.0.0.1:PORT`."""
        return "ws://" + self.base_url.removeprefix("http://")

    def start(self) -> str:
        """Start it and wait for its `listening on` line; returns the base URL."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stderr = (self.log_dir / SIM_STDERR_FILE).open("a", encoding="utf-8")
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.PIPE,  # with --exit-on-stdin-close: dies with the supervisor, even on kill -9
            text=True,
            encoding="utf-8",
            env=self.env,
            **popen_group_kwargs(),
        )
        stdout = self.proc.stdout
        assert stdout is not None
        line_box: list[str] = []
        # readline() has no timeout: read in a thread and wait for it with one.
        reader = threading.Thread(target=lambda: line_box.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        line = line_box[0].strip() if line_box else ""
        if not line.startswith(LISTENING_PREFIX):
            self.stop()
            err = (self.log_dir / SIM_STDERR_FILE).read_text(encoding="utf-8", errors="replace").strip()
            why = err.splitlines()[-1] if err else f"no '{LISTENING_PREFIX}' line within {START_TIMEOUT_S:.0f} s"
            raise SimulatorFailed(f"simulator did not start: {why}")
        self.base_url = line[len(LISTENING_PREFIX) :].rstrip("/")
        # Keep reading stdout so the simulator can never block on a full pipe.
        self._drain = threading.Thread(target=self._drain_stdout, daemon=True)
        self._drain.start()
        return self.base_url

    def _drain_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with (self.log_dir / "sim.out").open("a", encoding="utf-8") as out:
            for line in self.proc.stdout:
                out.write(line)

    def stats(self) -> dict[str, Any]:
        """`GET /sim/stats`."""
        with LOOPBACK.open(self.base_url + "/sim/stats", timeout=HTTP_TIMEOUT_S) as resp:
            doc: dict[str, Any] = json.loads(resp.read())
        return doc

    def refresh_stats(self) -> None:
        """Keep a recent /sim/stats (every STATS_EVERY_S): during an outage fault the simulator answers
        nothing, not even /sim/stats, and the run may end inside one."""
        if time.monotonic() < self._stats_due:
            return
        self._stats_due = time.monotonic() + STATS_EVERY_S
        with contextlib.suppress(OSError):  # an outage window: the previous copy stays
            self.last_stats = self.stats()

    def final_stats(self) -> dict[str, Any] | None:
        """/sim/stats now; if the simulator cannot answer, the last copy marked as not final."""
        try:
            return self.stats()
        except OSError as exc:
            if self.last_stats is None:
                return None
            return {**self.last_stats, "nore_not_final": f"final /sim/stats unanswered ({exc}); as of now_ms"}

    def sim_clock(self) -> SimClock:
        """The simulator's clock mapped onto this machine's wall clock (see the module docstring)."""
        before_ns, before_wall = time.perf_counter_ns(), time.time()
        doc = self.stats()
        after_ns = time.perf_counter_ns()
        # The first copy for `final_stats`: an outage fault may begin before the first periodic refresh.
        self.last_stats = doc
        speed = float(doc["speed"])
        elapsed_ns = int((int(doc["now_ms"]) - int(doc["start_ms"])) * NS_PER_MS / speed)
        anchor_ns = (before_ns + after_ns) // 2 - elapsed_ns
        anchor_wall = before_wall + (after_ns - before_ns) / 2e9 - elapsed_ns / 1e9
        return SimClock(int(doc["start_ms"]), speed, anchor_wall, anchor_ns)

    def alive(self) -> bool:
        """Whether the simulator process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Ask it to stop by closing its stdin (it exits 0; no signals, the same on Windows), kill if it will not."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(STOP_TIMEOUT_S)
            except (subprocess.TimeoutExpired, OSError):
                kill_tree(proc, STOP_TIMEOUT_S)  # behind a launcher the simulator is the launcher's child
        if self._drain is not None:
            self._drain.join(STOP_TIMEOUT_S)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
