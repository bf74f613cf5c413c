"""The queue's hash chain (order and completeness, R-T2/R-T6): any line deleted, swapped, inserted or
duplicated inside a queue file is found by `nore journal verify` on the folder and on the file, although
every line's own sha256 still matches; what a producer wrote verifies clean, across segments."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from minibot.cli import app
from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.journal.chain import ChainMismatch, chain_path, iter_checkpoints, parse_checkpoint
from minibot.journal.chaincheck import verify_chain
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.segments import list_segments
from minibot.journal.verify import verify_path
from minibot.metrics.verdict import Reasons
from minibot.metrics.verify_journals import check_integrity
from minibot.reasons import ReasonCode

RUN_ID = "20261124_101010"
HASH = "d" * 64


def _ctx(folder: Path, segment_max_bytes: int = 64 << 20) -> RunContext:
    queues = replace(scratch_queues(), segment_max_bytes=segment_max_bytes)
    return RunContext(folder, RUN_ID, HASH, lambda: 1_700_000_000_000, queues)


def _publish(ctx: RunContext, batches: list[int]) -> Path:
    ctx.queue_paths("market_ticks").create()
    producer = ctx.producer("market_ticks", "market_role")
    for n in batches:
        producer.publish([producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"]) for _ in range(n)])
    producer.close()
    return ctx.queue_paths("market_ticks").folder


def _codes(path: Path) -> set[str]:
    return {p.reason_code for p in verify_path(path).problems}


def test_a_producers_queue_verifies_across_segments(tmp_path: Path) -> None:
    folder = _publish(_ctx(tmp_path, segment_max_bytes=2000), [1, 3, 2, 5, 1, 4])
    segments = list_segments(folder, "inbox")
    assert len(segments) > 2 and all(chain_path(p).stat().st_size > 0 for _, p in segments)
    assert verify_path(folder).ok
    assert all(verify_path(p).ok for _, p in segments)


edits = st.sampled_from(["delete", "swap", "insert", "duplicate"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.integers(1, 4), min_size=1, max_size=5),
    edit=edits,
    at=st.floats(0, 1),
    other=st.floats(0, 1),
    small_segments=st.booleans(),
)
def test_any_deletion_swap_insertion_is_found(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[int],
    edit: str,
    at: float,
    other: float,
    small_segments: bool,
) -> None:
    root = tmp_path_factory.mktemp("q")
    folder = _publish(_ctx(root, 1500 if small_segments else 64 << 20), batches)
    foreign = _publish(_ctx(tmp_path_factory.mktemp("other")), [1])  # a valid line of the same run
    target = list_segments(folder, "inbox")[int(at * 0.999 * len(list_segments(folder, "inbox")))][1]
    lines = target.read_bytes().splitlines(keepends=True)
    i, j = int(at * 0.999 * len(lines)), int(other * 0.999 * len(lines))
    if edit == "delete":
        del lines[i]
    elif edit == "swap":
        if len(lines) < 2:
            return
        j = j if j != i else (i + 1) % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif edit == "insert":
        lines.insert(j, (foreign / "inbox.jsonl").read_bytes())
    else:
        lines.insert(j, lines[i])
    target.write_bytes(b"".join(lines))
    # A copy of the last line placed after itself is the one edit that leaves the chained bytes as they were
    # (a line after the last checkpoint is not chained): its duplicate id gives it away.
    expected = {ReasonCode.CHAIN_MISMATCH.value, ReasonCode.CURSOR_DESYNC.value}
    if edit == "duplicate":
        expected.add(ReasonCode.DUPLICATE_ID.value)
    assert _codes(folder) & expected, (edit, _codes(folder))
    assert _codes(target) & expected, (edit, _codes(target))


def test_cli_names_the_chain_mismatch_of_swapped_lines(tmp_path: Path) -> None:
    folder = _publish(_ctx(tmp_path), [1, 1, 1, 1, 1])  # one checkpoint per batch: located to the batch
    inbox = folder / "inbox.jsonl"
    lines = inbox.read_bytes().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    inbox.write_bytes(b"".join(lines))
    for path in (inbox, folder, tmp_path / "queues"):
        result = CliRunner().invoke(app, ["journal", "verify", str(path)])
        assert result.exit_code == 1, result.output
        assert "inbox.jsonl:2 (" in result.output and "CHAIN_MISMATCH" in result.output, result.output
    reasons = Reasons()  # `nore verify`'s journal check
    check_integrity(tmp_path, tmp_path / "queues", reasons)
    assert [r.code for r in reasons.items] == ["CHAIN_MISMATCH"], reasons.items
    assert "market_ticks/inbox.jsonl:2 (" in reasons.items[0].detail


def test_a_deleted_sidecar_or_inbox_is_reported(tmp_path: Path) -> None:
    folder = _publish(_ctx(tmp_path), [3])
    chain_path(folder / "inbox.jsonl").unlink()
    assert ReasonCode.CHAIN_MISMATCH.value in _codes(folder)
    other = _publish(_ctx(tmp_path / "b"), [3])
    (other / "inbox.jsonl").unlink()
    result = CliRunner().invoke(app, ["journal", "verify", str(other.parent)])
    assert result.exit_code == 1 and "market_ticks/inbox.jsonl" in result.output, result.output
    assert "CURSOR_DESYNC" in result.output, result.output


def test_nore_verify_names_a_deleted_inbox_its_acks_point_into(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    folder = _publish(ctx, [3, 3, 3])
    consumer = ctx.consumer("market_ticks", "strategy_role")
    while consumer.poll():
        consumer.ack()
    consumer.close()
    (folder / "inbox.jsonl").unlink()
    reasons = Reasons()
    check_integrity(tmp_path, ctx.queues_dir, reasons)
    details = [f"{r.code} {r.detail}" for r in reasons.items]
    assert any("CURSOR_DESYNC" in d and "market_ticks/inbox.jsonl" in d and "missing" in d for d in details), details
    assert any("9 lines" in d for d in details), details


def test_checkpoint_rows_read_in_blocks_are_the_sidecar_lines(tmp_path: Path) -> None:
    """The block-validated reading (64 KiB blocks, a line cut between blocks) yields exactly what a line-by-line
    parse does, from any offset."""
    folder = _publish(_ctx(tmp_path), [1] * 1200)  # ~100 KB of checkpoints: two blocks
    sidecar = folder / "inbox.jsonl.chain"
    raw = sidecar.read_bytes()
    assert len(raw) > 64 << 10
    expected, offset = [], 0
    for line in raw.splitlines(keepends=True):
        offset += len(line)
        expected.append((offset, parse_checkpoint(line, "x")))
    assert list(iter_checkpoints(sidecar)) == expected
    middle = expected[700][0]
    assert [(o, cp.lines) for o, cp in iter_checkpoints(sidecar, middle)] == [(o, cp.lines) for o, cp in expected[701:]]
    assert verify_chain(folder) == []


@pytest.mark.parametrize("where", [10, 900])  # in the first block, in the second
def test_a_damaged_checkpoint_line_is_named_where_it_ends(tmp_path: Path, where: int) -> None:
    folder = _publish(_ctx(tmp_path), [1] * 1000)
    sidecar = folder / "inbox.jsonl.chain"
    lines = sidecar.read_bytes().splitlines(keepends=True)
    lines[where] = lines[where].replace(b" ", b"  ", 1)
    sidecar.write_bytes(b"".join(lines))
    rows = []
    with pytest.raises(ChainMismatch, match=rf"inbox.jsonl.chain \({sum(map(len, lines[: where + 1]))}\): not a "):
        rows.extend(iter_checkpoints(sidecar))
    assert len(rows) == where  # the checkpoints before it still come out
    faults = verify_chain(folder)
    assert len(faults) == 1 and isinstance(faults[0].error, ChainMismatch), faults
