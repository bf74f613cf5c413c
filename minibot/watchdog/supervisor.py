"""`nore run`: the supervisor process. It owns the run's lifecycle; the watchdog (watchdog_role) runs inside it.

Order: config as used -> run folder (`run_dir:` printed at once) -> simulator (`--sim`) and the run clock ->
run.json -> queues -> preflight (STOP BINANCE_UNREACHABLE before any role if Binance does not answer) ->
role processes -> watch until the duration has passed (run clock), the operator's stop file
`<run>/control/stop` appears, Ctrl+C, or a STOP -> end the roles (stage by stage when graceful, at once on
STOP) -> final files and summary (ending.py).

The watch loop sleeps on the watchdog's doorbell (minibot/journal/doorbell.py): heartbeats, STOPs, risk
actions and timing events ring it as they are appended. Otherwise it wakes at its own nearest deadline (the
next periodic check, metrics poll, heartbeat, due restart, the end of the duration) and at least every
`TICK_S`, which bounds how late it notices what nobody rings for: a role process that died, the operator's
stop file, a Ctrl+C on Windows (where `select()` is not interrupted by it).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from minibot.ai.env import ai_role_environment
from minibot.config.binance import BinanceConfig
from minibot.config.loader import with_overrides
from minibot.config.rules import resolve_in_run
from minibot.config.views import MetricsConfig, QueuesConfig, RunSettings, WatchdogConfig
from minibot.exitcodes import ExitCode
from minibot.ids import process_command_line
from minibot.journal.atomic import write_critical_json
from minibot.journal.console_record import console_ending
from minibot.journal.context import RunContext
from minibot.journal.doorbell import Doorbell, queue_ringer
from minibot.journal.stop import (
    is_stopped,
    release_stop_space,
    reserve_stop_space,
    stop,
    unexpected_error_reason,
)
from minibot.logs import LoggingConfig, configure_logging
from minibot.metrics.collector import MetricsCollector
from minibot.metrics.dashboard import Dashboard
from minibot.reasons import NoreError, ReasonCode, Refusal
from minibot.rolenames import Role
from minibot.roles.process import Heartbeat, RoleEnv
from minibot.runlayout import CONTROL_DIR, OPERATOR_STOP_FILE, STATUS_FILE
from minibot.watchdog.checks import QueueWatch, check_critical_files, check_disk
from minibot.watchdog.console import ConsoleDashboard, ConsoleOut, dashboard_stream
from minibot.watchdog.ending import Ending, EndingContext, finish_run
from minibot.watchdog.hostguard import HostGuard
from minibot.watchdog.launch import role_environ
from minibot.watchdog.options import RunOptions, check_start_disk, config_as_used
from minibot.watchdog.preflight_child import PreflightFailed, preflight_bound_s, run_preflight_child
from minibot.watchdog.procs import RoleProcess, missing_role_modules, run_roles
from minibot.watchdog.restarts import Supervision
from minibot.watchdog.rundir import create_queues, create_run_dir, run_document, write_run_file
from minibot.watchdog.scrub import SCRUB_BOUND_RUN_S
from minibot.watchdog.secrets import Secrets, load_secrets
from minibot.watchdog.simproc import SimClock, SimulatorFailed, SimulatorProcess
from minibot.watchdog.suspend import SuspendWatch, gap_bound_s
from minibot.watchdog.varpath import onedrive_warning
from minibot.watchdog.watch import Finding, JournalWatch
from minibot.winsys import Kernel32

TICK_S = 0.25
CHECK_EVERY_RUN_S = 5.0
CHECK_MIN_WALL_S = 0.5
METRICS_MIN_WALL_S = 0.2  # reading every new journal line costs CPU: not more often than this
DASHBOARD_LINE_S = 10.0  # off a terminal: one plain status line this often (wall clock)
log = logging.getLogger("nore.supervisor")


class SetupError(Refusal):
    """The installation cannot run NORE (e.g. a role module is missing): exit 4 before any file is written."""


class Supervisor:
    """One `nore run`, and the one owner of its lifecycle: it sets the run up, watches it, and hands the
    ending (ending.py) an `EndingContext` naming exactly what it may use."""

    def __init__(
        self,
        options: RunOptions,
        say: Callable[[str], None],
        k32: Kernel32 | None = None,
        console: ConsoleOut | None = None,
    ) -> None:
        options.check()
        self.options = options
        self.say = say
        self.console = console  # where the dashboard is drawn (None: a writer thread of its own on stdout)
        self.cfg = config_as_used(options)
        self.watchdog_cfg = WatchdogConfig.from_config(self.cfg)
        self.logging_cfg = LoggingConfig.from_config(self.cfg)
        self.queues_cfg = QueuesConfig.from_config(self.cfg)
        self.metrics_cfg = MetricsConfig.from_config(self.cfg)
        self.duration_ms = RunSettings.from_config(self.cfg).duration_ms
        check_start_disk(options.var, self.watchdog_cfg.disk_min_free_mb)
        self.roles = run_roles(self.cfg)
        missing = missing_role_modules(self.roles)
        if missing:
            raise SetupError(f"this installation lacks the role modules {missing}")
        self.secrets: Secrets = load_secrets(self.cfg, os.environ, [options.var])
        self.sim: SimulatorProcess | None = None
        self.procs: dict[str, RoleProcess] = {}
        self.run_dir = Path()
        self.ctx: RunContext | None = None
        self.k32 = k32  # kernel32 for the host guard (None: the real one on Windows; tests inject a fake)
        self.bell: Doorbell | None = None
        self.host: HostGuard | None = None
        self.host_held: dict[str, bool] = {}

    # ---- setting up ------------------------------------------------------------------------------
    def _start_clock(self) -> tuple[SimClock, dict[str, Any] | None]:
        if not self.options.sim:
            start_ms, anchor_ns = int(time.time() * 1000), time.perf_counter_ns()
            return SimClock(start_ms, self.options.speed, start_ms / 1000.0, anchor_ns), None
        self.sim = SimulatorProcess(
            self.run_dir / self.logging_cfg.dir,
            self.options.speed,
            list(BinanceConfig.from_config(self.cfg).symbols),
            seed=self.options.seed,
            data=self.options.sim_data,
            scenario=self.options.scenario,
            env=self.secrets.child_env(os.environ),
        )
        base = self.sim.start()
        self.cfg = with_overrides(self.cfg, {"binance": {"rest_base_url": base, "ws_base_url": self.sim.ws_url}})
        return self.sim.sim_clock(), {"base_url": base, "ws_url": self.sim.ws_url}

    def _write_run(self, run_id: str, anchor: SimClock, sim: dict[str, Any] | None) -> RoleEnv:
        me = psutil.Process()
        doc = run_document(
            run_id,
            process_command_line(),
            self.cfg,
            anchor.clock(),
            anchor.anchor_unix_s,
            sim,
            {"pid": me.pid, "create_time": me.create_time()},
            self.host_held,
        )
        write_run_file(self.run_dir, doc)
        clock = anchor.clock()
        self.ctx = RunContext(self.run_dir, run_id, doc["cmdline_hash"], clock.now_ms, self.queues_cfg, queue_ringer)
        create_queues(self.run_dir, self.queues_cfg)
        (self.run_dir / CONTROL_DIR).mkdir(exist_ok=True)
        return RoleEnv(Role.WATCHDOG.value, self.ctx, self.cfg, doc, clock, log)

    def _role_env(self, role: str) -> dict[str, str]:
        base = role_environ(self.secrets.child_env(os.environ))
        if role != Role.AI.value:
            return base
        return ai_role_environment(base, self.run_dir, [self.secrets.path] if self.secrets.path else [])

    # ---- running ---------------------------------------------------------------------------------
    def run(self) -> int:
        """The whole run; returns the process exit code: OK, STOPPED, ERROR, or USAGE when the simulator
        refused its data or scenario."""
        run_id, self.run_dir = create_run_dir(self.options.var)
        resolve_in_run(self.run_dir, self.cfg)  # a symlink inside the run may not lead a folder key out of it
        reserve_stop_space(self.run_dir)  # so a STOP can still be raised on a disk that fills up
        self.say(f"run_dir: {self.run_dir}")
        configure_logging(self.run_dir, self.logging_cfg, "supervisor", self.secrets.values)
        synced = onedrive_warning(self.options.var)
        if synced is not None:
            self.say(f"warning: {synced}")
            log.warning("%s", synced)
        log.info(
            "run %s starting: roles %s, sim=%s, speed=%s", run_id, self.roles, self.options.sim, self.options.speed
        )
        self.host = HostGuard(self.run_dir, self.k32)
        try:
            self.host_held = self.host.start()
            return self._run(run_id)
        except BaseException:
            self._abandon()
            raise
        finally:
            release_stop_space(self.run_dir)
            self.host.close()  # the machine may sleep again, the console gets its mode back
            if self.bell is not None:
                self.bell.close()

    def _abandon(self) -> None:
        """The supervisor is failing outside the normal ending: nothing it started may outlive it."""
        log.error("abandoning the run: killing every role and the simulator")
        for proc in self.procs.values():
            proc.finished = True
            proc.kill()
            proc.close()
        if self.sim is not None:
            self.sim.stop()

    def _run(self, run_id: str) -> int:
        try:
            anchor, sim = self._start_clock()
        except SimulatorFailed as exc:
            self.say(f"error: {exc}")
            log.error("%s", exc)
            return ExitCode.USAGE
        env = self._write_run(run_id, anchor, sim)
        collector = MetricsCollector(self.run_dir, self.cfg)
        ending = Ending(self.run_dir, env.clock, collector)
        console = self.console if self.console is not None else ConsoleOut()
        dashboard = Dashboard(
            self.run_dir,
            self.duration_ms,
            quiet=self.options.quiet,
            is_terminal=sys.stdout.isatty(),
            interval_s=DASHBOARD_LINE_S,
            stream=dashboard_stream(console),
        )
        ending.dashboard = ConsoleDashboard(console, dashboard)
        if self.metrics_cfg.prometheus_port is not None:
            # imported only when asked for: prometheus_client costs the supervisor ~10 MB of RSS all night
            from minibot.metrics.prometheus import start_from_config

            ending.prometheus = start_from_config(collector, self.metrics_cfg)
        try:
            self._preflight_and_watch(env, ending)
        except KeyboardInterrupt:
            ending.ended_by = ending.ended_by or "Ctrl+C"
        except Exception as exc:  # fail closed: STOP the run so every role halts, then report
            log.exception("supervisor error")
            assert self.ctx is not None
            # A typed error keeps its own reason (a replace that failed, a lock timeout), a full disk is a
            # disk STOP; only what nothing names is an internal error.
            code = unexpected_error_reason(exc)
            detail = exc.detail if isinstance(exc, NoreError) else f"{type(exc).__name__}: {exc}"
            stop(self.ctx, source=Role.WATCHDOG.value, component="supervisor", reason_code=code, detail=detail)
            if self.procs:  # the roles had started: the run ended on this STOP
                ending.ended_by = ending.ended_by or "STOP"
            if code is ReasonCode.INTERNAL_ERROR:
                ending.internal_error = f"{type(exc).__name__}: {exc}"
        return finish_run(self._ending_context(), env, ending)

    def _ending_context(self) -> EndingContext:
        """What the ending needs from this run, passed explicitly (the supervisor stays the lifecycle's owner)."""
        return EndingContext(
            run_dir=self.run_dir,
            procs=self.procs,
            stop_grace_s=self.watchdog_cfg.stop_grace_s,
            sim=self.sim,
            raise_stop=self.raise_stop,
            write_status=self.write_status,
            say=self.say,
            role_view=self.role_view,
        )

    def _preflight_and_watch(self, env: RoleEnv, ending: Ending) -> None:
        assert self.ctx is not None
        try:
            # In its own process, from run.json's config: with --sim it points at the simulator.
            result = run_preflight_child(
                self.run_dir,
                self.run_dir / self.logging_cfg.dir,
                self.secrets.child_env(os.environ),
                preflight_bound_s(BinanceConfig.from_config(self.cfg).rest_timeout_s),
            )
        except PreflightFailed as exc:
            stop(
                self.ctx,
                source=Role.WATCHDOG.value,
                component="preflight",
                reason_code=exc.reason_code,
                detail=exc.detail,
            )
            return
        log.info("preflight ok: server time %s, latencies %s", result.server_time_ms, result.latencies_ms)
        self.bell = Doorbell(self.run_dir, Role.WATCHDOG.value)  # before any role starts, so no first ring is missed
        watch = JournalWatch(self.ctx, self.cfg, self.procs)
        ending.watch = watch
        heartbeat = Heartbeat(env)
        ending.heartbeat = heartbeat
        queues = QueueWatch(
            self.ctx.queues_dir,
            self.queues_cfg.names,
            [*self.roles, Role.WATCHDOG.value],
            scrub_pass_wall_s=SCRUB_BOUND_RUN_S / 2 / env.clock.speed,
        )
        ending.queues = queues
        log_dir = self.run_dir / self.logging_cfg.dir
        for role in self.roles:
            self.procs[role] = RoleProcess(role, self.run_dir, log_dir, self._role_env(role), env.clock.now_ms)
        for proc in self.procs.values():
            proc.start()
            log.info("%s started as pid %s", proc.role, proc.pid)
        self.write_status("running")

        def restarted(proc: RoleProcess, entry: dict[str, Any]) -> None:
            heartbeat.beat("DEGRADED", force=True, error=f"{proc.role} {entry['reason']}", restarted_role=proc.role)
            self.write_status("running")

        supervision = Supervision(self.procs, self.watchdog_cfg, env.clock, watch, restarted)
        ending.supervision = supervision  # the ending restarts a role killed before it has drained
        suspend = SuspendWatch(gap_bound_s(env.clock.speed), env.clock.now_ms)
        ending.suspend = suspend
        suspend.start()
        try:
            ending.ended_by = self._watch(env, ending, watch, supervision, queues, heartbeat, suspend)
        finally:
            suspend.close()

    def _watch(
        self,
        env: RoleEnv,
        ending: Ending,
        watch: JournalWatch,
        supervision: Supervision,
        queues: QueueWatch,
        heartbeat: Heartbeat,
        suspend: SuspendWatch,
    ) -> str:
        duration_ms = self.duration_ms
        check_every = max(CHECK_EVERY_RUN_S / env.clock.speed, CHECK_MIN_WALL_S)
        metrics_every = max(self.metrics_cfg.interval_s / env.clock.speed, METRICS_MIN_WALL_S)
        next_check = next_metrics = 0.0
        rung = True  # whether the doorbell rang during the last wait (the first round reads everything)
        while True:
            # A suspension first: after one, every heartbeat looks late and a role's STOP may race this one.
            finding = suspend.finding()
            if finding is not None:
                self.raise_stop(finding)
            if is_stopped(self.run_dir):
                return "STOP"
            if (self.run_dir / OPERATOR_STOP_FILE).exists():
                console = console_ending(self.run_dir)
                return str(console["ended_by"]) if console is not None else "operator stop file"
            if env.clock.elapsed_ms() >= duration_ms:
                return "duration reached"
            finding = watch.poll(rung) or suspend.finding() or supervision.tick() or watch.findings(env.clock.now_ms())
            if finding is None and time.monotonic() >= next_check:
                next_check = time.monotonic() + check_every
                finding = self._periodic(queues)
            if finding is None and time.monotonic() >= next_metrics:
                next_metrics = time.monotonic() + metrics_every
                finding = ending.metrics_poll(self.role_view())
            if finding is not None:
                self.raise_stop(finding)
                continue
            heartbeat.beat()
            now = time.monotonic()
            restarts = [p.restart_due - now for p in self.procs.values() if p.restart_due is not None]
            wait_s = min(
                TICK_S,
                heartbeat.due_in_s(),
                next_check - now,
                next_metrics - now,
                env.clock.real_seconds(duration_ms - env.clock.elapsed_ms()),
                *restarts,
            )
            assert self.bell is not None
            rung = self.bell.wait(wait_s)

    def _periodic(self, queues: QueueWatch) -> Finding | None:
        if self.sim is not None:
            if not self.sim.alive():
                return ReasonCode.BINANCE_UNREACHABLE, "the embedded simulator process has exited"
            self.sim.refresh_stats()
        return (
            check_disk(self.run_dir, self.watchdog_cfg.disk_min_free_mb)
            or queues.check(self.queues_cfg.max_consumer_lag_events)
            or check_critical_files(self.run_dir)
        )

    def raise_stop(self, finding: Finding) -> None:
        """Journal a STOP found by the watchdog and raise STOP.flag."""
        assert self.ctx is not None
        code, detail = finding
        log.error("STOP %s: %s", code.value, detail)
        stop(self.ctx, source=Role.WATCHDOG.value, component=Role.WATCHDOG.value, reason_code=code, detail=detail)

    def role_view(self) -> dict[str, dict[str, Any]]:
        """What the metrics collector records per role: pid (of the interpreter running it), started_ms,
        restarts, alive."""
        return {
            role: {"pid": p.role_pid, "started_ms": p.started_ms, "restarts": len(p.restarts), "alive": p.running()}
            for role, p in self.procs.items()
        }

    def write_status(self, state: str, **extra: Any) -> None:
        """`<run>/watchdog/status.json`: every role's pid, starts and restarts (critical JSON). Best effort:
        it only shows progress, so a write a scanner blocks is logged and skipped, never a STOP."""
        path = self.run_dir / STATUS_FILE
        path.parent.mkdir(exist_ok=True)
        doc = {"state": state, "roles": {r: p.status() for r, p in self.procs.items()}, **extra}
        write_critical_json(path, doc, fsync=False, best_effort=True)
