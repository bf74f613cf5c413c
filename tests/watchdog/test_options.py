"""Issue 13 defect 2 and 4: `nore run` refuses bad options and a too-full disk with exit 2, creating nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minibot.config.loader import default_config_path
from minibot.exitcodes import ExitCode
from minibot.reasons import ConfigInvalid
from minibot.watchdog.cli import run_command
from minibot.watchdog.options import MAX_SPEED, RunOptions, check_start_disk


def _refused(options: RunOptions) -> str:
    lines: list[str] = []
    assert run_command(options, lines.append) == ExitCode.USAGE
    assert len(lines) == 1 and lines[0].startswith("error: CONFIG_INVALID: ")
    return lines[0]


@pytest.mark.parametrize("speed", [float("inf"), float("nan"), 1e12, MAX_SPEED * 1.001, 0.0, -1.0])
def test_speed_outside_what_a_run_honours_is_refused_before_any_folder(tmp_path: Path, speed: float) -> None:
    var = tmp_path / "var"
    assert "--speed" in _refused(RunOptions(sim=True, speed=speed, duration="2s", var=var))
    assert not var.exists()


def test_var_that_is_a_file_is_refused(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.write_text("not a folder")
    assert "--var" in _refused(RunOptions(sim=True, duration="2s", var=var))
    assert var.read_text() == "not a folder"
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "runs").write_text("x")
    assert "--var" in _refused(RunOptions(sim=True, duration="2s", var=tmp_path / "v2"))


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("queues", "base_dir", "../escape"),
        ("logging", "dir", "/tmp/elsewhere"),
        ("execution", "initial_cash", float("inf")),
        ("binance", "weight_slow_fraction", float("nan")),
    ],
)
def test_config_escaping_or_breaking_the_run_is_refused_before_any_folder(
    tmp_path: Path, section: str, key: str, value: object
) -> None:
    doc = json.loads(default_config_path().read_text(encoding="utf-8"))
    doc[section][key] = value
    config = tmp_path / "nore.json"
    config.write_text(json.dumps(doc))
    line = _refused(RunOptions(config_path=config, sim=True, duration="2s", var=tmp_path / "var"))
    assert f"{section}.{key}" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nore.json"]


def test_too_little_free_disk_is_refused_at_start(tmp_path: Path) -> None:
    check_start_disk(tmp_path / "not" / "yet", 0)  # nearest existing folder is measured
    with pytest.raises(ConfigInvalid, match=r"watchdog\.disk_min_free_mb: only \d+ MB free"):
        check_start_disk(tmp_path / "var", 1 << 40)
