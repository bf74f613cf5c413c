"""`nore run` options and the config as used: parsed once, checked fail-closed (exit 2 on any problem)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from minibot.config.loader import load_config, with_overrides
from minibot.reasons import ConfigInvalid
from minibot.watchdog.varpath import default_var

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
# The fastest run clock a run honours: at 600x one wall second is ten run minutes, so the simulator's and the
# roles' run-clock timers (heartbeats, health polls, the 1-minute weight window) still fire at least every
# 100 ms of wall time; beyond that they would fire back to back and the run would STOP for reasons that
# are artefacts of the speed, not of the market (docs/reference.md).
MAX_SPEED = 600.0


def parse_duration_ms(text: str) -> int:
    """`90s`, `10m`, `7h`, `1500ms` or a bare number of milliseconds -> milliseconds (run clock)."""
    match = _DURATION_RE.match(text.strip().lower())
    if match is None:
        raise ConfigInvalid(f"--duration: {text!r} is not a duration (expected e.g. 90s, 10m, 7h or milliseconds)")
    value = float(match.group(1)) * _UNIT_MS[match.group(2) or "ms"]
    if value < 1000:
        raise ConfigInvalid(f"--duration: {text!r} is shorter than the minimum of 1 s")
    return int(value)


@dataclass(frozen=True)
class RunOptions:
    """Everything `nore run` was asked to do."""

    config_path: Path | None = None
    sim: bool = False
    sim_data: list[Path] = field(default_factory=list)
    scenario: Path | None = None
    seed: int = 0
    duration: str | None = None
    speed: float = 1.0
    var: Path = field(default_factory=default_var)
    quiet: bool = False

    def check(self) -> None:
        """Usage errors the option parser cannot express."""
        if not (math.isfinite(self.speed) and 0 < self.speed <= MAX_SPEED):
            raise ConfigInvalid(f"--speed: must be > 0 and <= {MAX_SPEED:g} (a finite number), got {self.speed}")
        for folder in (self.var, self.var / "runs"):
            if folder.exists() and not folder.is_dir():
                raise ConfigInvalid(f"--var: {folder} is a file; --var names a folder (runs go under VAR/runs/)")
        if (self.sim_data or self.scenario) and not self.sim:
            raise ConfigInvalid("--sim-data and --scenario need --sim (they configure the embedded simulator)")
        for path in [*self.sim_data, *([self.scenario] if self.scenario else [])]:
            if not path.is_file():
                raise ConfigInvalid(f"{path}: no such file")


def config_as_used(options: RunOptions) -> dict[str, Any]:
    """The config file (default: the shipped nore.v1.json) with `--duration` applied, validated."""
    cfg = load_config(options.config_path)
    if options.duration is not None:
        cfg = with_overrides(cfg, {"duration_ms": parse_duration_ms(options.duration)})
    return cfg


def existing_ancestor(path: Path) -> Path:
    """`path` or its nearest existing parent (the folder whose disk a new run would use)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_start_disk(var: Path, min_free_mb: int) -> None:
    """Refuse to start (exit 2) when the disk under `var` already has less than the STOP bound free.

    Otherwise the run would start the simulator and every role only to STOP DISK_LOW at the watchdog's first
    check, or worse, fail writing its first files.
    """
    free_mb = psutil.disk_usage(str(existing_ancestor(var))).free // (1024 * 1024)
    if free_mb < min_free_mb:
        raise ConfigInvalid(
            f"watchdog.disk_min_free_mb: only {free_mb} MB free on the disk of {var} (the run needs at least "
            f"{min_free_mb} MB); free some space, choose another --var, or lower the bound"
        )
