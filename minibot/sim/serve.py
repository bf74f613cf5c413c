"""Serving the simulator until it is told to stop, for `nore sim` and for the simulator of `nore run --sim`.

`nore run --sim` starts `python -m minibot.sim.serve CONFIG_JSON` (the fields of a `SimConfig` as one JSON
object, paths as strings; `config_from_json`) rather than the `nore sim` command line: the simulator never
imports typer (4.4 MB of RSS all night), nor the pydantic that typer 0.29 parses command lines with (~12 MB;
issue 14, item 4). The command line a person types stays `nore sim` /
`python -m minibot.sim`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import threading
from pathlib import Path

import orjson

from minibot.exitcodes import ExitCode
from minibot.marketdata.datafiles import DataFileError
from minibot.memtrace import start_from_env
from minibot.sim.runner import SimConfig, start_simulator
from minibot.sim.scenario import ScenarioError

_FIELDS = sorted(f.name for f in dataclasses.fields(SimConfig))


def config_from_json(text: str) -> SimConfig:
    """The `SimConfig` in `text`, a JSON object with exactly its fields. ValueError says what is wrong."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the simulator's configuration is not JSON ({exc})") from None
    if not isinstance(doc, dict) or sorted(doc) != _FIELDS:
        got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"the simulator's configuration must be an object with keys {_FIELDS}, got {got}")
    scenario = doc["scenario"]
    return SimConfig(
        host=str(doc["host"]),
        port=int(doc["port"]),
        symbols=[str(s) for s in doc["symbols"]],
        data_paths=[Path(p) for p in doc["data_paths"]],
        speed=float(doc["speed"]),
        scenario=Path(scenario) if isinstance(scenario, str) else scenario,
        seed=int(doc["seed"]),
        start_ms=doc["start_ms"],
        anchor_unix_s=doc["anchor_unix_s"],
    )


def _watch_stdin(loop: asyncio.AbstractEventLoop, done: asyncio.Event) -> None:
    """Set `done` when standard input reaches end of file (the parent that holds the pipe is gone)."""
    while sys.stdin.buffer.read(4096):
        pass
    loop.call_soon_threadsafe(done.set)


async def _serve(cfg: SimConfig, exit_on_stdin_close: bool) -> None:
    running = await start_simulator(cfg)
    # Tools wait for this exact first line to learn the port; flush so a pipe sees it at once.
    print(f"listening on {running.base_url}", flush=True)
    done = asyncio.Event()
    if exit_on_stdin_close:
        threading.Thread(target=_watch_stdin, args=(asyncio.get_running_loop(), done), daemon=True).start()
    try:
        await done.wait()
    finally:
        await running.stop()


def serve(cfg: SimConfig, exit_on_stdin_close: bool) -> int:
    """Serve until Ctrl+C (or, with `exit_on_stdin_close`, until stdin closes); the exit code.

    Bad input (data file, scenario, address) prints `error: ...` on stderr and returns 2.
    """
    start_from_env("simulator")  # opt-in memory growth tracing (bench/bench_run.py --tracemalloc)
    try:
        asyncio.run(_serve(cfg, exit_on_stdin_close))
    except KeyboardInterrupt:
        sys.stdout.flush()
    except (DataFileError, ScenarioError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return ExitCode.USAGE
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m minibot.sim.serve CONFIG_JSON`: serve `config_from_json(CONFIG_JSON)` until stdin closes."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("error: usage: python -m minibot.sim.serve CONFIG_JSON (one SimConfig as JSON)", file=sys.stderr)
        return ExitCode.USAGE
    try:
        cfg = config_from_json(args[0])
    except (ValueError, TypeError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    return serve(cfg, exit_on_stdin_close=True)


if __name__ == "__main__":
    sys.exit(main())
