"""The scrub's steady cost does not grow with the night (issue 14) and it still finds damage (issue 13 item 3):
sealed segments by their stat fingerprint at the next check, the active segment's verified prefix within the
bound, a flip whose times were restored by the slow pass. Costs are counted (bytes, checkpoints, stats),
never timed."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from minibot.config.loader import load_config
from minibot.config.views import QueuesConfig
from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.journal.chain import chain_path
from minibot.journal.chaincheck import SegmentCheck
from minibot.journal.context import RunContext
from minibot.journal.producer import Producer
from minibot.reasons import ReasonCode
from minibot.watchdog.ledger import BLOCK, Ledger, Mismatch, WatchedFile, fingerprint, racy, recheck
from minibot.watchdog.scrub import SCRUB_BOUND_RUN_S, SCRUB_SLOW_BYTES_PER_S, QueueScrub
from minibot.watchdog.scrubfiles import diagnose

PASS_S = SCRUB_BOUND_RUN_S / 2
CHECK_S = 5.0  # the supervisor's periodic check at 1x
SMALL_SEGMENT = 65536  # the schema's minimum: a night's rotations in a few MB


class Night:
    """A market_ticks queue written by the real producer, and a scrub over it on a test clock."""

    def __init__(self, tmp_path: Path, segment_max_bytes: int, platform: str = "linux") -> None:
        queues = dataclasses.replace(QueuesConfig.from_config(load_config()), segment_max_bytes=segment_max_bytes)
        ctx = RunContext(tmp_path, "20260101_000000", "a" * 64, lambda: 1_767_225_600_000, queues)
        self.producer: Producer = ctx.producer("market_ticks", "market_role")
        self.folder = ctx.queue_paths("market_ticks").folder
        self.now = 0.0
        # Fingerprints of files written a moment ago are "racy" (ledger.RACY_NS): the wall clock the scrub
        # compares them with runs 10 s ahead, as if the files had been written earlier in the night.
        self.scrub = QueueScrub(
            {"market_ticks": self.folder},
            pass_wall_s=PASS_S,
            clock=lambda: self.now,
            wall_ns=lambda: time.time_ns() + 10_000_000_000,
            platform=platform,
        )

    def publish(self, batches: int, events: int = 20) -> None:
        """`batches` batches of `events` ticks (~10 KB a batch)."""
        for _ in range(batches):
            self.producer.publish(
                [self.producer.event("market_tick", EXAMPLE_PAYLOADS["market_tick"]) for _ in range(events)]
            )

    def check(self, advance: float = CHECK_S) -> tuple[ReasonCode, str] | None:
        """One periodic check, `advance` seconds of the test clock after the last."""
        self.now += advance
        return self.scrub.check()

    def sealed(self) -> list[WatchedFile]:
        """The files of sealed segments the scrub has verified."""
        return [f for q in self.scrub.queues for f in q.watched() if f.sealed]

    def settle(self) -> list[WatchedFile]:
        """Checks until every sealed file is trusted (its fingerprint stands in for re-reading it)."""
        for _ in range(40):
            assert self.check() is None
            sealed = self.sealed()
            if sealed and all(f.trusted is not None for f in sealed):
                return sealed
        raise AssertionError("sealed files never became trusted")


def _flip(path: Path, at: int) -> None:
    """Change one byte in place, as a failing disk or a stray editor would."""
    with path.open("r+b") as fh:
        fh.seek(at)
        old = fh.read(1)
        fh.seek(at)
        fh.write(b"9" if old != b"9" else b"8")


def _bytes_on_disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("inbox*.jsonl"))  # segments, not sidecars


@pytest.mark.parametrize(
    ("damage", "code", "where"),
    [
        ("flip a byte of line 2", ReasonCode.LINE_HASH_MISMATCH, "inbox.000001.jsonl:2 ("),
        ("flip a checkpoint's chain", ReasonCode.CHAIN_MISMATCH, "inbox.000001.jsonl"),
        ("cut the segment", ReasonCode.CURSOR_DESYNC, "truncated"),
        ("delete the sidecar", ReasonCode.CHAIN_MISMATCH, "inbox.000001.jsonl.chain is missing"),
    ],
)
def test_damage_to_a_sealed_segment_is_found_at_the_next_check(
    tmp_path: Path, damage: str, code: ReasonCode, where: str
) -> None:
    night = Night(tmp_path, SMALL_SEGMENT)
    night.publish(40)
    night.settle()
    segment = night.folder / "inbox.000001.jsonl"
    sidecar = chain_path(segment)
    time.sleep(0.05)  # past the file system's timestamp tick of the last write (the scrub's clock was faked)
    if damage == "flip a byte of line 2":
        _flip(segment, segment.read_bytes().index(b"\n") + 20)
    elif damage == "flip a checkpoint's chain":
        _flip(sidecar, sidecar.read_bytes().index(b"\n") - 3)
    elif damage == "cut the segment":
        os.truncate(segment, segment.stat().st_size // 2)
    else:
        sidecar.unlink()
    rolling, slow = night.scrub.rolling_bytes, night.scrub.slow_bytes
    finding = night.check(advance=0.0)  # no time for a rolling or slow pass: the fingerprint found it
    assert finding is not None and finding[0] is code and where in finding[1], finding
    assert (night.scrub.rolling_bytes, night.scrub.slow_bytes) == (rolling, slow)
    assert night.check() == finding  # kept


def test_a_touched_or_copied_sealed_segment_is_rechecked_not_stopped_on(tmp_path: Path) -> None:
    night = Night(tmp_path, SMALL_SEGMENT)
    night.publish(40)
    sealed = {f.path.name: f for f in night.settle()}
    segment = night.folder / "inbox.000002.jsonl"
    os.utime(segment)  # a backup tool or an indexer touching it: same bytes
    copy = segment.with_name("copy.tmp")
    copy.write_bytes((night.folder / "inbox.000003.jsonl").read_bytes())
    os.replace(copy, night.folder / "inbox.000003.jsonl")  # replaced by an equal copy: a new inode
    before = night.scrub.changed_bytes
    assert night.check(advance=0.0) is None
    rechecked = sealed["inbox.000002.jsonl"].ledger.length + sealed["inbox.000003.jsonl"].ledger.length
    assert night.scrub.changed_bytes - before == rechecked  # both re-checked whole, at once
    assert sealed["inbox.000002.jsonl"].trusted is None  # back in the rolling passes until trusted again
    assert night.settle()  # trusted again after a rolling pass


@pytest.mark.parametrize(
    ("name", "code", "where"),
    [
        ("inbox.jsonl", ReasonCode.LINE_HASH_MISMATCH, "market_ticks/inbox.jsonl:1 (0)"),
        ("inbox.jsonl.chain", ReasonCode.CHAIN_MISMATCH, "market_ticks/inbox.jsonl:1 (0)"),
    ],
)
def test_a_byte_flipped_in_the_active_segments_verified_prefix_is_found_within_the_bound(
    tmp_path: Path, name: str, code: ReasonCode, where: str
) -> None:
    night = Night(tmp_path, 64 << 20)
    night.publish(300)  # ~3 MB: a pass needs several checks
    for _ in range(20):
        assert night.check() is None
        if night.scrub.passes:
            break
    path = night.folder / name
    # Worst case: just after the rolling pass re-read block 0 (its first check), a byte of block 0 changes.
    for _ in range(20):
        night.publish(1)  # the night goes on: appends to the same file meanwhile
        before = night.scrub.rolling_bytes
        assert night.check() is None
        if night.scrub.rolling_bytes > before:
            break
    assert night.scrub.passes == 1 and night.scrub.rolling_bytes > before
    flipped_at = night.now
    _flip(path, 100 if name == "inbox.jsonl" else path.read_bytes().index(b"\n") - 3)  # a line, a chain
    finding = None
    while finding is None and night.now - flipped_at <= 2 * SCRUB_BOUND_RUN_S:
        night.publish(1)
        finding = night.check()
    assert finding is not None and finding[0] is code and where in finding[1], finding
    assert night.now - flipped_at <= SCRUB_BOUND_RUN_S


@pytest.mark.parametrize("platform", ["win32", "linux"])
def test_a_flip_with_its_times_restored_is_found_by_the_slow_pass_or_the_change_time(
    tmp_path: Path, platform: str
) -> None:
    night = Night(tmp_path, SMALL_SEGMENT, platform=platform)
    night.publish(40)
    sealed = night.settle()
    segment = night.folder / "inbox.000001.jsonl"
    before = segment.stat()
    time.sleep(0.05)
    _flip(segment, segment.read_bytes().index(b"\n") + 20)
    os.utime(segment, ns=(before.st_atime_ns, before.st_mtime_ns))  # a tool that hides its write
    changed = night.scrub.changed_bytes
    if platform != "win32":  # the change time cannot be restored: the fingerprint finds it at the next check
        finding = night.check(advance=0.0)
        assert finding is not None and finding[0] is ReasonCode.LINE_HASH_MISMATCH, finding
        assert night.scrub.changed_bytes > changed
        return
    # Windows has no change time: only the slow pass, SCRUB_SLOW_BYTES_PER_S over the trusted files, sees it.
    trusted = sum(f.ledger.length for f in sealed)
    bound_s = (trusted + BLOCK) / SCRUB_SLOW_BYTES_PER_S + CHECK_S
    start, slow, finding = night.now, night.scrub.slow_bytes, None
    while finding is None and night.now - start <= 2 * bound_s:
        finding = night.check()
    assert finding is not None and finding[0] is ReasonCode.LINE_HASH_MISMATCH, finding
    assert "inbox.000001.jsonl:2 (" in finding[1], finding
    assert night.now - start <= bound_s
    assert night.scrub.changed_bytes == changed and night.scrub.slow_bytes > slow  # not the fingerprint
    assert night.scrub.slow_bytes - slow <= (night.now - start) * SCRUB_SLOW_BYTES_PER_S + 2 * BLOCK


def _idle_costs(tmp_path: Path, batches: int) -> dict[str, int]:
    """Per check and per rolling pass, once the sealed segments are trusted and the queue idles."""
    night = Night(tmp_path, SMALL_SEGMENT)
    night.publish(batches)
    night.settle()
    assert night.scrub.new_bytes == _bytes_on_disk(night.folder)  # every byte chained exactly once
    scrub = night.scrub
    passes, rolling, stats, checkpoints = scrub.passes, scrub.rolling_bytes, scrub.stats, scrub.checkpoints
    for _ in range(int(10 * PASS_S / CHECK_S)):  # ten rolling passes
        assert night.check() is None
    checks = int(10 * PASS_S / CHECK_S)
    active = [f.ledger.length for q in scrub.queues for f in q.watched() if not f.sealed]
    costs = {
        "passes": scrub.passes - passes,
        "rolling_per_pass": (scrub.rolling_bytes - rolling) // max(1, scrub.passes - passes),
        "active_bytes": sum(active),
        "stats_per_check": (scrub.stats - stats) // checks,
        "checkpoints": scrub.checkpoints - checkpoints,
        "sealed": len(night.sealed()),
    }
    night.publish(1)
    before_new, before_cp = scrub.new_bytes, scrub.checkpoints
    assert night.check() is None
    costs["new_bytes_of_one_batch"] = scrub.new_bytes - before_new
    costs["checkpoints_of_one_batch"] = scrub.checkpoints - before_cp
    night.producer.close()
    return costs


def test_the_idle_cost_of_a_check_does_not_grow_with_the_sealed_segments(tmp_path: Path) -> None:
    short = _idle_costs(tmp_path / "short", 30)
    long = _idle_costs(tmp_path / "long", 240)
    assert long["sealed"] >= 4 * short["sealed"] > 0, (short, long)
    for costs in (short, long):
        assert costs["passes"] >= 9, costs  # a pass every PASS_S
        assert costs["checkpoints"] == 0, costs  # idle: no checkpoint walked again
        assert costs["rolling_per_pass"] <= costs["active_bytes"] + BLOCK, costs  # the active files only
        assert costs["stats_per_check"] <= costs["sealed"], costs  # one stat per sealed file (segment, sidecar)
        assert costs["checkpoints_of_one_batch"] == 1, costs  # a new batch: its one checkpoint, once
    # The long night's rolling pass reads no more than the short one's: at most one segment and its sidecar.
    assert long["rolling_per_pass"] <= SMALL_SEGMENT * 2 and short["rolling_per_pass"] <= SMALL_SEGMENT * 2


def test_a_ledger_rechecks_blocks_and_names_the_first_changed_one(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = os.urandom(2 * BLOCK + 10)
    path.write_bytes(data)
    ledger = Ledger()
    for at in range(0, len(data), 300_000):  # fed in pieces that straddle the blocks
        ledger.extend(memoryview(data)[at : at + 300_000])
    assert (ledger.length, ledger.count()) == (len(data), 3)
    assert recheck(path, ledger, 0, 3, 1 << 30) == (len(data), 3, None)
    assert recheck(path, ledger, 0, 3, 1) == (BLOCK, 1, None)  # a budget stops after a whole block
    _flip(path, BLOCK + 5)
    used, block, mismatch = recheck(path, ledger, 0, 3, 1 << 30)
    assert (used, block) == (2 * BLOCK, 1) and mismatch is not None and mismatch.offset == BLOCK
    os.truncate(path, BLOCK)
    mismatch = recheck(path, ledger, 0, 3, 1 << 30)[2]
    assert mismatch is not None and (mismatch.offset, mismatch.size) == (BLOCK, BLOCK)
    path.unlink()
    mismatch = recheck(path, ledger, 0, 3, 1 << 30)[2]
    assert mismatch is not None and (mismatch.offset, mismatch.size) == (0, 0)


def test_the_fingerprint_leaves_out_the_windows_creation_time_and_recent_times_are_racy(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    st = path.stat()
    assert fingerprint(st, "linux") == (1, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns)
    assert fingerprint(st, "win32") == (1, st.st_mtime_ns, st.st_ino, st.st_dev, 0)
    assert racy(st, time.time_ns()) and not racy(st, time.time_ns() + 3_000_000_000)


def test_the_sinks_get_exactly_the_verified_bytes_of_segment_and_sidecar(tmp_path: Path) -> None:
    night = Night(tmp_path, 64 << 20)
    night.publish(5)
    night.producer.close()
    segment = night.folder / "inbox.jsonl"
    sidecar = chain_path(segment)
    # A checkpoint line written by hand with a leading zero still verifies; its own bytes are recorded.
    rows = sidecar.read_bytes().split(b"\n")
    sidecar.write_bytes(b"\n".join([b"0" + rows[0], *rows[1:]]))
    got: dict[str, bytearray] = {"segment": bytearray(), "sidecar": bytearray()}
    check = SegmentCheck(night.folder, "inbox", 0, sink=got["segment"].extend, side_sink=got["sidecar"].extend)
    for _ in range(10):
        _, fault = check.step(3000)  # a few checkpoints a step: the sinks are fed across steps
        assert fault is None
        if check.done:
            break
    assert check.done and check.checkpoints == 5
    assert bytes(got["segment"]) == segment.read_bytes() and bytes(got["sidecar"]) == sidecar.read_bytes()


def test_a_cut_the_rolling_pass_reads_first_is_the_same_truncation_the_tip_check_reports(tmp_path: Path) -> None:
    """A cut can land between a check's tip check and its rolling pass: the pass's finding is still the
    CURSOR_DESYNC of a truncation, not a CHAIN_MISMATCH or a torn line."""
    night = Night(tmp_path, segment_max_bytes=1 << 30)
    night.publish(40)
    assert night.check() is None
    newest = next(f for q in night.scrub.queues for f in q.watched() if not f.sidecar)
    size = newest.path.stat().st_size
    with newest.path.open("r+b") as fh:
        fh.truncate(size // 2 + 7)  # mid-line
    queue = night.scrub.queues[0]
    code, detail = diagnose(queue, newest, Mismatch(size // 2, size // 2 + 7))
    assert code is ReasonCode.CURSOR_DESYNC and "truncated" in detail, detail
