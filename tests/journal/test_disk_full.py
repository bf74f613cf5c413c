"""Issue 13 defect 4: an append cut short by a full disk (ENOSPC) leaves no torn line behind."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_PAYLOADS, EXAMPLE_RUN_ID
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.verify import verify_path
from tests.tmpfs import fill_up, small_fs

pytestmark = pytest.mark.process


def test_a_write_the_disk_cuts_short_is_cut_back(tmp_path: Path) -> None:
    with small_fs(tmp_path / "fs", "1m") as fs:
        ctx = RunContext(fs, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, scratch_queues())
        producer = ctx.producer("fills", "execution_role", fsync="always")
        producer.publish([producer.event("fill", EXAMPLE_PAYLOADS["fill"])])
        inbox = ctx.queue_paths("fills").folder / "inbox.jsonl"
        before = inbox.read_bytes()
        fill_up(fs, 6000)
        with pytest.raises(OSError) as exc:
            for _ in range(100):  # bounded: a 20-event batch is ~8 KB, more than is left
                producer.publish([producer.event("fill", EXAMPLE_PAYLOADS["fill"]) for _ in range(20)])
        producer.close()
        assert exc.value.errno == errno.ENOSPC
        after = inbox.read_bytes()
        assert after.startswith(before) and after.endswith(b"\n")  # whole lines only, nothing torn
        assert verify_path(ctx.queue_paths("fills").folder).ok
