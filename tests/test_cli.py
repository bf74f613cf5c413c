"""The CLI contract other tools rely on (issue 3 item 10): exit codes and the problem line format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from minibot import __version__
from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.journal.context import RunContext, scratch_queues

pytestmark = pytest.mark.process


def nore(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `nore` command in a subprocess."""
    return subprocess.run([sys.executable, "-m", "minibot", *args], capture_output=True, text=True, timeout=120)


def _queue(tmp: Path) -> Path:
    ctx = RunContext(tmp, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, scratch_queues())
    producer = ctx.producer("fills", "execution_role")
    producer.publish([producer.event("fill", EXAMPLE_PAYLOADS["fill"]) for _ in range(3)])
    producer.close()
    return ctx.queue_paths("fills").folder


def test_version() -> None:
    result = nore("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_journal_verify_clean_then_corrupt(tmp_path: Path) -> None:
    folder = _queue(tmp_path)
    ok = nore("journal", "verify", str(folder))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK ")
    inbox = folder / "inbox.jsonl"
    lines = inbox.read_bytes().splitlines(keepends=True)
    inbox.write_bytes(lines[0] + lines[1].replace(b'"BTCUSDT"', b'"ETHUSDT"') + lines[2])
    bad = nore("journal", "verify", str(inbox))
    assert bad.returncode == 1
    first = bad.stdout.splitlines()[0]
    offset = len(lines[0])
    assert first.startswith(f"{inbox}:2 ({offset}): LINE_HASH_MISMATCH ")


def test_journal_cat_filters_by_type(tmp_path: Path) -> None:
    folder = _queue(tmp_path)
    out = nore("journal", "cat", str(folder / "inbox.jsonl"), "--type", "fill", "--payload")
    assert out.returncode == 0
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3 and rows[0]["symbol"] == "BTCUSDT"
    none = nore("journal", "cat", str(folder / "inbox.jsonl"), "--type", "signal")
    assert none.returncode == 0 and none.stdout == ""


def test_gates_table_and_json() -> None:
    table = nore("gates")
    assert table.returncode == 0, table.stdout + table.stderr
    for name in ("runtime_smoke", "schema_gate", "ai_isolation_gate", "atomic_io_gate"):
        assert name in table.stdout
    doc = json.loads(nore("gates", "--json").stdout)
    statuses = {g["name"]: g["status"] for g in doc["gates"]}
    assert statuses["schema_gate"] == "PASS" and statuses["atomic_io_gate"] == "PASS"
