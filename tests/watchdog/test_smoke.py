"""runtime_smoke (R-Q1): a real short `nore run --sim`, checked by the gate, and its row in `nore gates`."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.gates.base import GATES, PASS, GateFailed, run_gate
from minibot.watchdog.smoke import runtime_smoke_gate

pytestmark = pytest.mark.process


def test_runtime_smoke_passes_on_a_real_sim_run(tmp_path: Path) -> None:
    result = run_gate("runtime_smoke", "R-Q1", "minibot.watchdog.smoke:runtime_smoke_gate", tmp_path)
    assert result.status == PASS, result.detail
    assert "nore verify PASS" in result.detail and "0 order requests" in result.detail
    assert ("runtime_smoke", "R-Q1", "minibot.watchdog.smoke:runtime_smoke_gate") in GATES
    run_dir = next((tmp_path / "var" / "runs").iterdir())
    assert (run_dir / "metrics.json").is_file() and (run_dir / "metrics" / "snapshots.jsonl").is_file()


def test_runtime_smoke_fails_when_the_run_cannot_start(tmp_path: Path) -> None:
    """The --var path is a file: nore run cannot create its run folder; the gate names the failure."""
    (tmp_path / "var").write_text("not a folder")
    with pytest.raises(GateFailed, match="nore run --sim exited"):
        runtime_smoke_gate(tmp_path)
