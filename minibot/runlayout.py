"""The run directory's layout: the name of every file and folder a run has, defined here once.

`<var>/runs/<run_id>/` (watchdog/rundir.py creates it). Three folders are named by the config, not here:
the queues (`queues.base_dir`, one folder per queue, laid out by journal/layout.py), the logs
(`logging.dir`) and the AI's folder (`ai.dir`, laid out by ai/registry.py and ai/snapshots.py);
config/rules.py keeps them from taking the place of a name below (`RESERVED_TOP`).

docs/architecture.md ("Run layout") draws this layout; tests/test_runlayout.py checks the drawing against
this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# ---- top level -----------------------------------------------------------------------------------
RUN_FILE = "run.json"  # how the run was started (critical JSON, written once before any role starts)
EXCHANGE_INFO_FILE = "exchange_info.json"  # the preflight's exchangeInfo answer: the filters every core uses
STOP_FLAG = "STOP.flag"  # the first STOP (critical JSON); its existence halts every role
STOP_RESERVE = "STOP.reserve"  # disk space set aside so a STOP can be written on a full disk
METRICS_FILE = "metrics.json"  # the run's figures (R-N2), rewritten by the watchdog during the run
SIM_STATS_FILE = "sim_stats.json"  # what the embedded simulator saw (`--sim`), written at the end
REPORT_FILE = "report.html"  # `nore report`'s default output

# ---- control/: files the supervisor and the operator leave for the roles ----------------------------
CONTROL_DIR = "control"
SHUTDOWN_FILE = Path(CONTROL_DIR, "shutdown")  # the graceful end, asked of every role
SHUTDOWN_ROLE_PREFIX = "shutdown."  # control/shutdown.<role>: one role asked to end (stage by stage)
OPERATOR_STOP_FILE = Path(CONTROL_DIR, "stop")  # the operator ends the run (no STOP)
CONSOLE_RECORD = Path(CONTROL_DIR, "console_closed.json")  # the console was closed: names the ending

# ---- the watchdog's own folders ------------------------------------------------------------------------
WATCHDOG_DIR = "watchdog"
STATUS_FILE = Path(WATCHDOG_DIR, "status.json")  # every role's pid, starts and restarts
METRICS_DIR = "metrics"
SNAPSHOTS_STEM = "snapshots"  # metrics/snapshots.jsonl: one metrics_snapshot event per interval
SNAPSHOTS_JOURNAL = Path(METRICS_DIR, f"{SNAPSHOTS_STEM}.jsonl")
REQUESTS_DIR = "market"
REQUESTS_STEM = "requests"  # market/requests.jsonl: every REST request the Binance client sent (R-X2)
REQUESTS_JOURNAL = f"{REQUESTS_DIR}/{REQUESTS_STEM}.jsonl"  # also its key in contracts.v1.json's "journals"

# ---- roles/<role>/: each role's private files ------------------------------------------------------
ROLES_DIR = "roles"
INPUT_LOG_STEM = "inputs"  # roles/<role>/inputs.jsonl: the input batches a core role stepped, in order
PORTFOLIO_FILE = "portfolio.json"  # roles/<role>/portfolio.json: risk's and execution's portfolio snapshot
INSTANCE_LOCK = "instance.lock"  # held by the role process for its whole life: one process per role
INSTANCE_HOLDER = "instance.json"  # names the lock's holder for the refusal message


# ---- in the folders the config names ------------------------------------------------------------------
# <queues.base_dir>/stop_journal/.stop.lock: "is this STOP journaled already?" and the append, one step
# across processes (the queue's other files are journal/layout.py's)
STOP_LOCK = ".stop.lock"
SIM_STDERR_FILE = "sim.err"  # <logging.dir>/sim.err: the embedded simulator's stderr (beside <role>.log files)
PREFLIGHT_STDERR_FILE = "preflight.err"  # <logging.dir>/preflight.err: the preflight process's stderr
MODEL_EVENTS_STEM = "model_events"  # <ai.dir>/model_events.jsonl: ai_role's ai_model_event journal
AI_ACTIVE_FILE = "active.json"  # <ai.dir>/active.json: which model snapshot is in use
AI_SNAPSHOTS_DIR = "snapshots"  # <ai.dir>/snapshots/<snapshot>/: the trained models, one folder each
AI_DATASETS_DIR = "datasets"  # <ai.dir>/datasets/<version>/: labelled feature rows in shards
DATASET_MANIFEST_FILE = "manifest.json"  # <ai.dir>/datasets/<version>/manifest.json: the shards and their sha256
SNAPSHOT_MODEL_FILE = "model.json"  # <ai.dir>/snapshots/<snapshot>/model.json: one trained model
SNAPSHOT_MANIFEST_FILE = "manifest.json"  # <ai.dir>/snapshots/<snapshot>/manifest.json: its files, sha256
# <ai.dir>/metrics.json is ai_role's METRICS_FILE.


def role_dir(run_dir: Path, role: str) -> Path:
    """`<run>/roles/<role>/`: the role's input log, portfolio snapshot and instance lock."""
    return Path(run_dir) / ROLES_DIR / role


def role_shutdown_file(run_dir: Path, role: str) -> Path:
    """`<run>/control/shutdown.<role>`: the supervisor asks this role alone to finish."""
    return Path(run_dir) / CONTROL_DIR / f"{SHUTDOWN_ROLE_PREFIX}{role}"


# ---- critical JSON files (R-T3) -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CriticalFile:
    """A critical JSON file (or a glob of them) of a run: whole and matching its own sha256, or the run is
    damaged. Cursors are critical too but are checked with their queues."""

    pattern: str  # glob relative to the run folder
    required: bool  # a finished run must have it (`nore verify`: CRITICAL_FILE_MISSING)
    watched: bool  # the watchdog re-reads it during the run (a torn one is a STOP NON_ATOMIC_WRITE)


CRITICAL_FILES: tuple[CriticalFile, ...] = (
    CriticalFile(RUN_FILE, required=True, watched=True),
    CriticalFile(EXCHANGE_INFO_FILE, required=True, watched=True),
    CriticalFile(STOP_FLAG, required=False, watched=True),
    CriticalFile(METRICS_FILE, required=False, watched=True),
    CriticalFile(f"{ROLES_DIR}/*/{PORTFOLIO_FILE}", required=False, watched=True),
    # The AI's metrics (`<ai.dir>/metrics.json`, ai_role's own) and the files written at the end or off the
    # run's path (best-effort status, console record) are checked once the run is over.
    CriticalFile(f"*/{METRICS_FILE}", required=False, watched=False),
    CriticalFile(SIM_STATS_FILE, required=False, watched=False),
    CriticalFile(STATUS_FILE.as_posix(), required=False, watched=False),
    CriticalFile(CONSOLE_RECORD.as_posix(), required=False, watched=False),
)
# What the watchdog re-reads while the run goes on.
WATCHED_CRITICAL_GLOBS: tuple[str, ...] = tuple(f.pattern for f in CRITICAL_FILES if f.watched)
# What `nore verify` checks as critical files: all of them but run.json (read first, a run folder without
# it is unreadable) and metrics.json (compared figure by figure: METRICS_MISSING / METRICS_MISMATCH).
VERIFIED_CRITICAL_FILES: tuple[CriticalFile, ...] = tuple(
    f for f in CRITICAL_FILES if f.pattern not in (RUN_FILE, METRICS_FILE)
)
