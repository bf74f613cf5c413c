"""The preflight (R-G1) as its own short-lived process: `python -m minibot.watchdog.preflight RUN_DIR`.

The probe needs the Binance REST client, and with it aiohttp: ~12 MB of RSS that the supervisor would hold
all night for three requests at the start (issue 14, item 4). So the supervisor starts the probe as a child
(the same interpreter, launcher-aware), reads its one answer line, and turns it back into what the probe
raised: `PreflightFailed` (a STOP from component `preflight`), or any other error with its own reason code
(a file that cannot be replaced, a full disk), so a STOP reads the same as when the probe ran in process.

The answer is one JSON line on stdout: `{"ok": {server_time_ms, latencies_ms, symbols}}` (exit 0) or
`{"error": {"preflight": bool, "reason_code": str, "detail": str}}` (exit 1). Anything else (a crash, no
line) is INTERNAL_ERROR with the child's last stderr line; no answer within the bound is
BINANCE_UNREACHABLE, and the child's whole process tree is killed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from minibot.reasons import NoreError, ReasonCode
from minibot.runlayout import PREFLIGHT_STDERR_FILE
from minibot.watchdog.launch import child_python, kill_tree
from minibot.watchdog.procs import popen_group_kwargs

START_MARGIN_S = 60.0  # an interpreter start on a cold Windows machine with a virus scanner, and then some
REQUESTS = 3  # ping, time, exchangeInfo: each bounded by binance.rest_timeout_s
KILL_WAIT_S = 10.0


class PreflightFailed(NoreError):
    """Binance (or the simulator) did not answer the preflight as documented: a STOP before any role."""

    reason_code = ReasonCode.BINANCE_UNREACHABLE


@dataclass(frozen=True)
class PreflightResult:
    """What the preflight measured."""

    server_time_ms: int
    latencies_ms: dict[str, float]
    symbols: list[str]


def answer_ok(result: PreflightResult) -> bytes:
    """The child's answer line for a preflight that passed."""
    doc = {"server_time_ms": result.server_time_ms, "latencies_ms": result.latencies_ms, "symbols": result.symbols}
    return orjson.dumps({"ok": doc}) + b"\n"


def answer_error(exc: NoreError) -> bytes:
    """The child's answer line for an error that carries its STOP reason."""
    doc = {"preflight": isinstance(exc, PreflightFailed), "reason_code": exc.reason_code.value, "detail": exc.detail}
    return orjson.dumps({"error": doc}) + b"\n"


def read_answer(line: str, returncode: int, stderr_tail: str) -> PreflightResult:
    """The probe's result from the child's answer line and exit code; raises what the probe raised."""
    try:
        doc: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        doc = None
    if returncode == 0 and isinstance(doc, dict) and isinstance(doc.get("ok"), dict):
        ok = doc["ok"]
        return PreflightResult(int(ok["server_time_ms"]), dict(ok["latencies_ms"]), list(ok["symbols"]))
    if returncode == 1 and isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        err = doc["error"]
        reason = ReasonCode(err["reason_code"])
        if err["preflight"]:
            raise PreflightFailed(str(err["detail"]), reason)
        raise NoreError(str(err["detail"]), reason)
    raise NoreError(
        f"the preflight process exited with code {returncode} without an answer"
        + (f": {stderr_tail}" if stderr_tail else "")
    )


def preflight_bound_s(rest_timeout_s: float) -> float:
    """How long the supervisor waits for the preflight process's answer."""
    return START_MARGIN_S + REQUESTS * rest_timeout_s


def run_preflight_child(run_dir: Path, log_dir: Path, env: dict[str, str], bound_s: float) -> PreflightResult:
    """Run the preflight of the run in `run_dir` (its run.json written) in a child process with environment
    `env`, waiting at most `bound_s` (`preflight_bound_s`); see the module docstring for what it raises."""
    err_path = log_dir / PREFLIGHT_STDERR_FILE
    with err_path.open("ab") as err:
        proc = subprocess.Popen(
            [child_python(env), "-m", "minibot.watchdog.preflight", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            **popen_group_kwargs(),
        )
    try:
        out, _ = proc.communicate(timeout=bound_s)
    except subprocess.TimeoutExpired:
        raise PreflightFailed(f"the preflight had no answer within {bound_s:.0f} s") from None
    finally:
        if proc.poll() is None:  # timed out, or Ctrl+C: the child and anything behind its launcher end now
            kill_tree(proc, KILL_WAIT_S)
        if proc.stdout is not None:
            proc.stdout.close()
    lines = out.decode("utf-8", "replace").splitlines()
    tail = err_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return read_answer(lines[-1] if lines else "", proc.returncode, tail[-1] if tail else "")
