"""`nore replay RUN_DIR --from-market`: two simulated nights of the same recording at different --speed each
rebuild byte for byte from their market_ticks alone; a changed output is named (queue, line, field); a
run that cannot be read is exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from minibot.contracts.codec import encode_line
from minibot.journal.reader import decode_event
from tests.metrics.report_run import nore
from tests.shared_data import BTC_TRADES as DATA

pytestmark = [pytest.mark.process, pytest.mark.usefixtures("binance_data")]


def _night(var: Path, speed: int) -> Path:
    done = nore(
        "run",
        "--sim",
        "--sim-data",
        str(DATA),
        "--duration",
        "6m",
        "--speed",
        str(speed),
        "--var",
        str(var),
        "--quiet",
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (run,) = sorted((var / "runs").iterdir())
    return run


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return [_night(tmp_path_factory.mktemp(f"speed{speed}"), speed) for speed in (30, 60)]


def test_each_speed_rebuilds_from_market_ticks_alone(nights: list[Path]) -> None:
    for run in nights:
        done = nore("replay", str(run), "--from-market")
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("IDENTICAL:") and "outputs of execution_role" in done.stdout
        fills = (run / "queues" / "fills" / "inbox.jsonl").read_bytes().count(b"\n")
        assert fills > 0, "the night traded"


def test_a_changed_fill_is_named_and_a_missing_run_json_is_exit_2(nights: list[Path], tmp_path: Path) -> None:
    run = Path(shutil.copytree(nights[0], tmp_path / nights[0].name))
    inbox = run / "queues" / "fills" / "inbox.jsonl"
    lines = inbox.read_bytes().splitlines(keepends=True)
    # Re-hash the changed line so only the content differs (a journal that fails its hash is exit 2).
    event = decode_event(lines[0])[1]
    event["payload"]["price"] = event["payload"]["price"] + 1.0
    inbox.write_bytes(encode_line(event) + b"".join(lines[1:]))
    done = nore("replay", str(run), "--from-market")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "DIFFERENT execution_role" in done.stdout and "fills/inbox.jsonl line 1: expected payload.price" in done.stdout
    )
    (run / "run.json").unlink()
    assert nore("replay", str(run), "--from-market").returncode == 2
