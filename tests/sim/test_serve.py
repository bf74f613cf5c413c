"""`python -m minibot.sim.serve CONFIG_JSON`, the simulator `nore run --sim` starts: its configuration is
checked before anything is served, and a bad one is a clear error with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from minibot.sim.serve import config_from_json, main

GOOD = {
    "host": "127.0.0.1",
    "port": 0,
    "symbols": ["BTCUSDT"],
    "data_paths": ["/data/a.csv"],
    "speed": 10,
    "scenario": None,
    "seed": 7,
    "start_ms": None,
    "anchor_unix_s": None,
}


def test_a_configuration_is_read_field_by_field() -> None:
    cfg = config_from_json(orjson.dumps({**GOOD, "scenario": "/s.json"}).decode())
    assert (cfg.host, cfg.port, cfg.symbols, cfg.speed, cfg.seed) == ("127.0.0.1", 0, ["BTCUSDT"], 10.0, 7)
    assert cfg.data_paths == [Path("/data/a.csv")] and cfg.scenario == Path("/s.json")
    assert config_from_json(orjson.dumps({**GOOD, "scenario": {"faults": []}}).decode()).scenario == {"faults": []}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "got list"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "seed"}).decode(), "with keys"),
        (orjson.dumps({**GOOD, "extra": 1}).decode(), "'extra'"),
    ],
)
def test_a_bad_configuration_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        config_from_json(text)


def test_main_refuses_a_wrong_command_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: python -m minibot.sim.serve CONFIG_JSON" in capsys.readouterr().err
    assert main([orjson.dumps({**GOOD, "port": "eighty"}).decode()]) == 2
    assert "error: invalid literal for int()" in capsys.readouterr().err


@pytest.mark.process
def test_a_missing_data_file_is_an_error_before_serving(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-trades.csv"
    doc = orjson.dumps({**GOOD, "data_paths": [str(missing)]}).decode()
    done = subprocess.run(
        [sys.executable, "-m", "minibot.sim.serve", doc],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""  # no `listening on` line: nothing was served
    assert done.stderr.startswith("error: ") and "no-such-trades.csv" in done.stderr
