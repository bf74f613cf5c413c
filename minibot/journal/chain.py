"""Order-and-completeness proof of a queue: a hash chain per inbox segment, kept in a sidecar (R-T2, R-T6).

Per-line sha256 (R-C1) proves each line is intact, not that the lines are all there in the order written:
a line removed, duplicated, swapped or inserted still verifies on its own. So every producer, under the
queue's lock, appends one checkpoint per batch to `<segment>.chain` (`inbox.jsonl.chain`,
`inbox.000001.jsonl.chain`, ...):

    <lines in the segment> <end byte offset> <chain hex>\\n      chain_k = sha256(chain_{k-1} || batch bytes)

chain_0 is 64 zeros for segment 0 and the last chain of segment k-1 for segment k, so segments are linked
too. The line format stays exactly `sha256:<hex>:<json>\\n`. Recomputing the chain from the bytes on disk
proves that the segment's first `end` bytes are byte for byte what the producers wrote, in that order
(lines removed, swapped, inserted, altered or cut off all break it). It does not prove anything about lines
after the last checkpoint (a producer killed between its inbox write and its checkpoint; the next producer
chains them), and it is damage detection, not a signature: someone who rewrites a segment and its sidecar
together is not detected.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from minibot.contracts.codec import split_line
from minibot.journal.atomic import fsync_dir
from minibot.journal.ordering import CHAIN
from minibot.journal.segments import APPEND_FLAGS, FsyncPolicy, PolicyFile, segment_path
from minibot.reasons import CursorDesync, NoreError, ReasonCode

CHAIN_SUFFIX = ".chain"
GENESIS = "0" * 64
_LINE = re.compile(rb"(\d{1,15}) (\d{1,19}) ([0-9a-f]{64})\n")
_BLOCK = re.compile(rb"(?:\d{1,15} \d{1,19} [0-9a-f]{64}\n)*")  # whole checkpoint lines, any number
_TAIL = 256  # a checkpoint line is at most ~100 bytes
_SIDECAR_CHUNK = 64 << 10  # ~750 checkpoints per read and block match (a scrub step may stop inside one)


class ChainMismatch(NoreError):
    """A queue segment does not match its hash chain: lines removed, swapped, inserted or altered."""

    reason_code = ReasonCode.CHAIN_MISMATCH


def chain_path(segment: Path) -> Path:
    """The sidecar of an inbox segment."""
    return segment.with_name(segment.name + CHAIN_SUFFIX)


def link(previous: str, data: bytes) -> str:
    """The chain value after appending `data` to a segment whose chain was `previous`."""
    digest = hashlib.sha256(bytes.fromhex(previous))
    digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """After `lines` whole lines, the segment ends at byte `end` with chain value `chain`."""

    lines: int
    end: int
    chain: str

    def encode(self) -> bytes:
        """The sidecar line."""
        return f"{self.lines} {self.end} {self.chain}\n".encode("ascii")


def parse_checkpoint(raw: bytes, where: str) -> Checkpoint:
    """One sidecar line (with its newline); anything else is ChainMismatch."""
    m = _LINE.fullmatch(raw)
    if m is None:
        raise ChainMismatch(f"{where}: not a checkpoint line: {raw[:120]!r}")
    return Checkpoint(int(m.group(1)), int(m.group(2)), m.group(3).decode("ascii"))


def last_checkpoint(sidecar: Path) -> Checkpoint | None:
    """The last whole checkpoint of a sidecar (a torn last line is ignored), or None if it has none."""
    with sidecar.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - _TAIL))
        tail = fh.read()
    end = tail.rfind(b"\n")
    if end < 0:
        return None
    start = tail.rfind(b"\n", 0, end) + 1
    if start == 0 and size > _TAIL:
        raise ChainMismatch(f"{sidecar.name}: last line longer than {_TAIL} bytes")
    return parse_checkpoint(tail[start : end + 1], sidecar.name)


def iter_checkpoints(sidecar: Path, offset: int = 0) -> Iterator[tuple[int, Checkpoint]]:
    """(offset after it, checkpoint) for every whole line of a sidecar from byte `offset`."""
    for after, lines, end, chain in iter_checkpoint_rows(sidecar, offset):
        yield after, Checkpoint(lines, end, chain.decode("ascii"))


def iter_checkpoint_rows(sidecar: Path, offset: int = 0) -> Iterator[tuple[int, int, int, bytes]]:
    """(offset after it, lines, end, chain hex) for every whole line of a sidecar from byte `offset`; a line
    that is not a checkpoint raises ChainMismatch naming where.

    The watchdog's scrub walks every checkpoint of the night on every pass (issue 14, idle cost), so each
    block read is validated by one regex match, and lines are matched one by one only in a block that fails
    (to name the bad one)."""
    with sidecar.open("rb") as fh:
        fh.seek(offset)
        rest = b""
        while chunk := fh.read(_SIDECAR_CHUNK):
            buf = rest + chunk
            whole = buf.rfind(b"\n") + 1
            block, rest = buf[:whole], buf[whole:]
            if _BLOCK.fullmatch(block) is None:
                yield from _rows_until_bad(block, offset, sidecar.name)  # raises at the line that fails
                return
            for raw in block.split(b"\n")[:-1]:
                offset += len(raw) + 1
                lines, end, chain = raw.split(b" ")
                yield offset, int(lines), int(end), chain


def _rows_until_bad(block: bytes, offset: int, name: str) -> Iterator[tuple[int, int, int, bytes]]:
    """The rows of `block` (whole lines from byte `offset`) up to its first line that is not a checkpoint,
    then ChainMismatch naming where that line ends."""
    begin = 0
    while (nl := block.find(b"\n", begin)) >= 0:
        offset += nl + 1 - begin
        raw = block[begin : nl + 1]
        cp = parse_checkpoint(raw, f"{name} ({offset})")  # raises, naming where
        yield offset, cp.lines, cp.end, cp.chain.encode("ascii")
        begin = nl + 1


def seed(folder: Path, stem: str, index: int) -> str:
    """chain_0 of segment `index`: GENESIS for segment 0, else the last chain of segment index-1."""
    if index == 0:
        return GENESIS
    previous = chain_path(segment_path(folder, stem, index - 1))
    if not previous.exists():
        raise ChainMismatch(f"{previous.name} is missing: segment {index} cannot be linked to segment {index - 1}")
    last = last_checkpoint(previous)
    return last.chain if last is not None else GENESIS


def start_of_segment(folder: Path, stem: str, index: int) -> Checkpoint:
    """The checkpoint of an empty segment `index`."""
    return Checkpoint(0, 0, seed(folder, stem, index))


def covered(folder: Path, stem: str, index: int) -> Checkpoint:
    """The last checkpoint of segment `index` (its start if the sidecar has none yet).

    A segment with bytes but no sidecar lost its proof: ChainMismatch.
    """
    segment = segment_path(folder, stem, index)
    sidecar = chain_path(segment)
    if not sidecar.exists():
        if segment.exists() and segment.stat().st_size > 0:
            raise ChainMismatch(f"{sidecar.name} is missing although {segment.name} holds data")
        return start_of_segment(folder, stem, index)
    return last_checkpoint(sidecar) or start_of_segment(folder, stem, index)


@dataclass(frozen=True, slots=True)
class ChainFault:
    """Where a segment stops matching what was published: 1-based line, byte offset, and the error."""

    segment: Path
    line: int
    offset: int
    error: NoreError

    def __str__(self) -> str:
        return f"{self.segment.name}:{self.line} ({self.offset}): {self.error.detail}"


def truncated(segment: Path, size: int, cp: Checkpoint) -> ChainFault:
    """A segment shorter than what its chain records as published: a desync, not a torn write."""
    error = CursorDesync(
        f"{segment.name} is {size} bytes but its chain records {cp.lines} lines / {cp.end} bytes already "
        "published: the queue was truncated, deleted or replaced under its readers",
        ReasonCode.CURSOR_DESYNC,
    )
    return ChainFault(segment, cp.lines, min(size, cp.end), error)


def locate(segment: Path, start: int, end: int, first_line: int) -> ChainFault:
    """The fault for bytes [start, end) of `segment` that break the chain: the first line that fails its own
    sha256 (with that line's code), else ChainMismatch naming the range."""
    with segment.open("rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    number, begin = first_line, 0
    while begin < len(data):
        nl = data.find(b"\n", begin)
        line = data[begin : nl + 1] if nl >= 0 else data[begin:]
        try:
            split_line(line)
        except NoreError as exc:
            return ChainFault(segment, number + 1, start + begin, exc)
        if nl < 0:
            break
        number, begin = number + 1, nl + 1
    error = ChainMismatch(
        f"bytes {start}..{end} (lines {first_line + 1}..{number}) do not match the chain: lines removed, "
        "swapped, inserted or altered"
    )
    return ChainFault(segment, first_line + 1, start, error)


class SidecarWriter(PolicyFile):
    """Appends checkpoints to the sidecar of the segment being written, with the queue's fsync policy.

    Used by producers under the queue's lock, after the batch itself was written (and fsynced under
    `always`), so a checkpoint never names bytes that are not on disk first.
    """

    def __init__(self, folder: Path, stem: str, fsync: FsyncPolicy) -> None:
        super().__init__(fsync, CHAIN)  # fsynced after the segments whose bytes it names
        self.folder = folder
        self.stem = stem
        self.index = -1
        self._path: Path | None = None

    def open(self, index: int) -> Path:
        """Create (if needed) and open the sidecar of segment `index`; returns its path."""
        if self._fd is not None and index == self.index and self._path is not None:
            return self._path  # every append lands here: its path is built once per segment (issue 14, idle cost)
        path = chain_path(segment_path(self.folder, self.stem, index))
        self.close()
        created = not path.exists()
        self._fd = os.open(path, APPEND_FLAGS, 0o644)
        if created and self.fsync.mode != "none":
            # Its existence is durable before any byte of its segment can be: after a power cut a segment
            # with data but no sidecar would read as a deleted proof (`covered`), not as unchained lines.
            os.fsync(self._fd)
            fsync_dir(self.folder)
        self.index = index
        self._path = path
        return path

    def size(self) -> int:
        """Size of the open sidecar (-1 when none is open)."""
        return os.fstat(self._fd).st_size if self._fd is not None else -1

    def append(self, index: int, checkpoint: Checkpoint) -> None:
        """Record `checkpoint` for segment `index`."""
        self.open(index)
        assert self._fd is not None
        self._before_write()
        os.write(self._fd, checkpoint.encode())
        self._written()
