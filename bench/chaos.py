"""Chaos benchmark: a kill storm over real `nore run --sim` runs, then an independent check of every queue.

Kill storm (default): runs `nore run --sim` one after another; once every role has beaten, kills (kill -9:
SIGKILL / TerminateProcess) a random role every `--interval` wall seconds (jittered 0.5x..1.5x), also
while the run is ending, until the run ends by its duration. Then, per run (bench/chaos_check.py):
- every line of every `*.jsonl` re-hashed here; every critical JSON file whole;
- no event id twice; one output per cause where the design says so (a signal -> one order_intent or one
  risk_action REJECT; an order_intent -> one order_result); every order's fills sum to its results' fill;
  no fill twice; after a clean end every forward input read, and no cursor past its queue;
- `nore journal verify RUN/queues` (acks, cursors), `nore replay RUN` (IDENTICAL), `nore verify RUN`.
Runs continue until `--runs` runs or `--kills` kills, whichever comes first.

The run's config allows many restarts: `watchdog.restart_max` 100000 in `restart_window_s` 60 and a
0.2 s first backoff (run clock), else the shipped limit (5 restarts in 30 min) would turn the storm into
STOP ROLE_RESTART_LIMIT after a few kills: that STOP is the designed answer to a crash loop, not what is
measured here.

Power cut (`--power-cut`): each run is cut after a random 0.5x..1.5x `--interval` seconds of beating by
kill -9 of every process of the run at once (supervisor, roles, simulator); then every critical JSON file
must read whole and every line must verify (a torn last line, a write the kill cut short, is counted
apart: the next writer repairs it; any other bad line is damage).

Usage:
    .venv/bin/python bench/chaos.py --kills 30                 # a short sanity pass (a few minutes)
    .venv/bin/python bench/chaos.py --kills 1000 --runs 100    # the full storm (hours on 2 cores)
    .venv/bin/python bench/chaos.py --power-cut --runs 12
Windows: .venv\\Scripts\\python.exe bench\\chaos.py --kills 30
Ends with `kills K, restarts R, stops S, lost L, duplicated D, replay mismatches M` and target lines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
from chaos_check import (  # same folder: the checks made on each run folder
    ROOT,
    RunCheck,
    check_causes,
    check_consumed,
    check_critical,
    check_ids,
    check_lines,
    nore,
    stop_reason,
)

from minibot.config.loader import load_config, with_overrides
from minibot.journal.atomic import read_critical_json
from minibot.runlayout import role_shutdown_file
from minibot.watchdog.procs import pid_file, run_roles

CHAOS_WATCHDOG = {"restart_max": 100_000, "restart_window_s": 60, "restart_backoff_s": 0.2}


def write_config(folder: Path) -> Path:
    """The shipped config with a restart limit the storm does not reach (module docstring)."""
    cfg = with_overrides(load_config(), {"watchdog": CHAOS_WATCHDOG})
    path = folder / "chaos.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def beating_roles(run_dir: Path) -> set[str]:
    """Roles that have published a heartbeat so far."""
    seen = set()
    for path in (run_dir / "queues" / "health").glob("inbox*.jsonl"):
        for line in path.read_bytes().split(b"\n")[:-1]:
            try:
                seen.add(json.loads(line[72:])["payload"]["role"])
            except (ValueError, KeyError):
                continue
    return seen


class Run:
    """One `nore run --sim` in its own process."""

    def __init__(self, var: Path, config: Path, args: argparse.Namespace, seed: int) -> None:
        cmd = [sys.executable, "-m", "minibot", "run", "--sim", "--quiet", "--config", str(config)]
        cmd += ["--speed", str(args.speed), "--duration", args.duration, "--seed", str(seed), "--var", str(var)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if not first.startswith("run_dir: "):
            raise RuntimeError(f"nore run did not start: {first}{self.proc.stdout.read()}")
        self.run_dir = Path(first.removeprefix("run_dir: "))
        self.roles = run_roles(load_config(config))

    def wait_beating(self, timeout_s: float = 120.0) -> bool:
        """Until every role has beaten once (False if the run ended or the time ran out first)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            if set(self.roles) <= beating_roles(self.run_dir):
                return True
            time.sleep(0.2)
        return False

    def kill_random_role(self, rng: random.Random) -> str | None:
        """kill -9 of a random running role; its name, or None if none could be killed."""
        for role in rng.sample(self.roles, len(self.roles)):
            try:
                psutil.Process(int(pid_file(self.run_dir, role).read_text())).kill()
                return role
            except (OSError, ValueError, psutil.Error):
                continue  # between two processes (restarting) or already gone: try another role
        return None

    def power_cut(self) -> int:
        """kill -9 of every process of the run at once; how many were killed."""
        try:
            sup = psutil.Process(self.proc.pid)
            procs = [sup, *sup.children(recursive=True)]
        except psutil.Error:
            return 0
        killed = 0
        for p in procs:
            try:
                p.kill()
                killed += 1
            except psutil.Error:
                continue
        self.proc.wait(30)
        psutil.wait_procs(procs, timeout=10)
        return killed

    def finish(self, timeout_s: float) -> tuple[int, str]:
        """Exit code and the summary printed."""
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.power_cut()
            out, _ = self.proc.communicate()
            return -1, out
        return self.proc.returncode, out


def storm(run: Run, args: argparse.Namespace, rng: random.Random, kills_left: int) -> tuple[Counter[str], int]:
    """Kill random roles every ~interval s until the run ends (or the kill budget is spent): kills by role,
    and how many of them landed while the run was already ending."""
    kills: Counter[str] = Counter()
    in_ending = 0
    if not run.wait_beating():
        return kills, in_ending
    while run.proc.poll() is None and kills.total() < kills_left:
        time.sleep(args.interval * rng.uniform(0.5, 1.5))
        if run.proc.poll() is not None:
            break
        ending = role_shutdown_file(run.run_dir, "market_role").exists()  # the graceful ending has begun
        role = run.kill_random_role(rng)
        if role is not None:
            kills[role] += 1
            in_ending += ending
    return kills, in_ending


def restarts_of(run_dir: Path) -> int:
    """Restarts the supervisor recorded (watchdog/status.json)."""
    try:
        roles = read_critical_json(run_dir / "watchdog" / "status.json")["roles"]
    except Exception:  # a missing or damaged status.json is reported by the critical-file check
        return 0
    return sum(len(r.get("restarts", [])) for r in roles.values())


def check_run(run: Run, power_cut: bool) -> tuple[RunCheck, dict[str, str]]:
    """Every check of one finished run; the project's own verdicts by name."""
    check = RunCheck()
    reason = stop_reason(run.run_dir)
    stopped = reason is not None or power_cut
    check_lines(run.run_dir, check)
    check_critical(run.run_dir, check)
    check_ids(run.run_dir, check)
    check_causes(run.run_dir, stopped, check)
    check_consumed(run.run_dir, set(run.roles), stopped, check)
    verdicts: dict[str, str] = {}
    code, out = nore("journal", "verify", str(run.run_dir / "queues"))
    verdicts["journal verify"] = "OK" if code == 0 else out.strip().splitlines()[-1][:200]
    if not power_cut:
        code, out = nore("replay", str(run.run_dir))
        verdicts["replay"] = "IDENTICAL" if code == 0 and "IDENTICAL" in out else out.strip()[-300:]
        code, out = nore("verify", "--json", str(run.run_dir))
        try:
            doc = json.loads(out)
            verdicts["verify"] = doc["verdict"] + "".join(f" {r['code']}" for r in doc["reasons"])
        except (ValueError, KeyError):
            verdicts["verify"] = f"exit {code}: {out.strip()[-200:]}"
    return check, verdicts


def machine_line() -> str:
    """CPUs and load, printed first: the figures depend on what else runs."""
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"machine: {os.cpu_count()} CPUs{load}"


def main() -> int:
    """Run the storm (or the power cuts), check every run, print the totals and targets."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="at most this many runs")
    ap.add_argument("--kills", type=int, default=1000, help="stop after this many kills (kill storm)")
    ap.add_argument("--interval", type=float, default=3.0, help="mean wall seconds between kills")
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--duration", default="20m", help="run clock length of each run (nore run --duration)")
    ap.add_argument("--power-cut", action="store_true", help="kill every process of each run at once")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the run folders (printed)")
    args = ap.parse_args()
    print(machine_line(), flush=True)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="chaos_"))
    config = write_config(work)
    kills: Counter[str] = Counter()
    stops: Counter[str] = Counter()
    totals = Counter[str]()
    problems: list[str] = []
    runs = 0
    started = time.monotonic()
    while runs < args.runs and (args.power_cut or kills.total() < args.kills):
        runs += 1
        run = Run(work / "var", config, args, seed=rng.randrange(1 << 30))
        if args.power_cut:
            beating = run.wait_beating()
            time.sleep(args.interval * rng.uniform(0.5, 1.5))
            totals["killed processes"] += run.power_cut() if beating else 0
            code, _ = run.finish(30)
        else:
            run_kills, in_ending = storm(run, args, rng, args.kills - kills.total())
            kills += run_kills
            totals["kills during the ending"] += in_ending
            code, _ = run.finish(600)
        reason = stop_reason(run.run_dir)
        stops[reason or ("power cut" if args.power_cut else "none")] += 1
        check, verdicts = check_run(run, args.power_cut)
        totals["restarts"] += restarts_of(run.run_dir)
        totals["lines"] += check.lines
        totals.update({f"all {k}": n for k, n in check.counts.items()})
        totals["critical files"] += check.critical_files
        totals["torn tails"] += len(check.torn_tails)
        totals["bad lines"] += len(check.bad_lines)
        totals["bad critical"] += len(check.bad_critical)
        totals["lost"] += len(check.lost)
        totals["duplicated"] += len(check.duplicated)
        totals["replay mismatches"] += verdicts.get("replay", "IDENTICAL") != "IDENTICAL"
        totals["journal verify failures"] += verdicts["journal verify"] != "OK"
        totals["verify FAIL"] += not verdicts.get("verify", "PASS").startswith("PASS")
        found = [*check.bad_lines, *check.bad_critical, *check.lost, *check.duplicated]
        problems += [f"{run.run_dir.name}: {p}" for p in found]
        print(
            f"run {runs} {run.run_dir.name}: exit {code}, STOP {reason or 'none'}, "
            f"kills {kills.total()} total, {check.lines} lines, "
            + "".join(f"{n} {k}, " for k, n in check.counts.items())
            + ", ".join(f"{k} {v}" for k, v in verdicts.items())
            + (f", {len(found)} problems" if found else ""),
            flush=True,
        )
    report(args, kills, stops, totals, problems, runs, time.monotonic() - started)
    print(f"run folders: {work}" + ("" if args.keep else " (removed)"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    bad = totals["lost"] + totals["duplicated"] + totals["replay mismatches"] + totals["bad lines"]
    return 1 if bad + totals["bad critical"] else 0


def report(
    args: argparse.Namespace,
    kills: Counter[str],
    stops: Counter[str],
    totals: Counter[str],
    problems: list[str],
    runs: int,
    wall_s: float,
) -> None:
    """Totals, the first problems, target lines, and the one summary line."""
    k = kills.total()
    print(f"{runs} runs in {wall_s / 60:.1f} wall min; {totals['lines']} lines, {totals['critical files']} JSON files")
    print(
        f"checked: {totals['all signals']} signals, {totals['all intents']} order_intents, "
        f"{totals['all results']} order_results, {totals['all fills']} fills"
    )
    print("kills by role: " + (", ".join(f"{r} {n}" for r, n in sorted(kills.items())) or "none"))
    print(f"kills during the graceful ending: {totals['kills during the ending']}")
    print("runs by STOP reason: " + ", ".join(f"{r} {n}" for r, n in sorted(stops.items())))
    print(
        f"journal verify failures {totals['journal verify failures']}, verify FAIL {totals['verify FAIL']}, "
        f"torn tails {totals['torn tails']} (repairable), bad lines {totals['bad lines']}, "
        f"bad critical files {totals['bad critical']}"
    )
    for line in problems[:20]:
        print(f"  {line}")
    s = sum(n for r, n in stops.items() if r not in ("none", "power cut"))
    if args.power_cut:
        print(f"power cuts {runs}, processes killed {totals['killed processes']}")
        targets = [
            ("damaged critical files", totals["bad critical"], "files"),
            ("damaged lines", totals["bad lines"], "lines"),
        ]
    else:
        targets = [
            ("lost", totals["lost"], "inputs"),
            ("duplicated", totals["duplicated"], "outputs"),
            ("replay mismatches", totals["replay mismatches"], "runs"),
        ]
        goal = "met" if k >= args.kills else "not met"
        print(f"target kills: {k} kills (goal >= {args.kills}): {goal}")
    for name, value, unit in targets:
        print(f"target {name}: {value} {unit} (goal 0): {'met' if value == 0 else 'not met'}")
    print(
        f"kills {k}, restarts {totals['restarts']}, stops {s}, lost {totals['lost']}, "
        f"duplicated {totals['duplicated']}, replay mismatches {totals['replay mismatches']}"
    )


if __name__ == "__main__":
    sys.exit(main())
