"""Loopback UDP doorbells: an append to a queue wakes the processes that read it (issue 14, item 1).

A role process that waits for work binds one UDP socket on 127.0.0.1 (the OS picks the port) and records
the port in `<run>/roles/<role>/doorbell.port` (JSON `{"port": N, "mute": [queue, ...], "sparse": [queue, ...]}`,
atomic replace).
Whoever has made something visible that a role must react to sends that role one 1-byte datagram:
- a producer, right after a batch is appended (readers can see it), rings every declared consumer of the
  queue (`RunContext.producer`) except those that muted it: a role that could not act on the queue's new
  lines anyway (risk_role on market_ticks waits for the strategy's watermark, which rings it); a role that
  listens to a queue sparsely is rung only for a batch its producer calls urgent (strategy_role on
  market_ticks: only a tick that may close a bar can make a signal, so market_role rings it for those only
  and it takes the others at its safety net);
- a STOP rings every role of the run (`journal.stop.stop`); the supervisor rings a role it asks to end;
- a core role whose market_ticks watermark advanced rings the peers that wait for it (roles/core_role.py).
The waiting role blocks in `select()` on its socket until a ring or its timeout (the safety-net poll,
its next heartbeat, a pending group commit), so it costs nothing while nothing happens.

Nothing depends on a datagram arriving: no port file yet, a stale port of a restarted role, a datagram
lost or refused only mean that the role finds the new lines on its next safety-net poll
(`queues.poll_interval_ms`). A ring never blocks the producer (non-blocking send, errors swallowed).
A producer stats each port file at every ring and reads it again when it changed or after a failed send.
Loopback UDP and `select()` on a socket behave the same on Windows.

The datagram says what it announces: `!<queue>` new lines of that queue (`!` alone: of some queue),
`w<role>` that role's market_ticks watermark advanced, anything else a control file (STOP.flag, a shutdown
request). A role stats its control files only after a control ring or at its safety net
(minibot/roles/wake.py `ControlWatch`), not on every round of a busy market; it skips a round a watermark
ring asks for when it holds nothing back for that peer, and one a queue's ring asks for when it may leave
that queue to its safety net (execution_role and market_ticks while it has no order open): minibot/roles/
schedule.py `skips`. A stray or unknown datagram counts as a control ring, so it costs at most a wake-up and
a round.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from minibot.journal.atomic import atomic_write_bytes

HOST = "127.0.0.1"
PORT_FILE = "doorbell.port"
LINES_RING = b"!"  # new lines to read (+ the queue's name)
CONTROL_RING = b"C"  # a control file to look at (STOP.flag, control/shutdown*)
_MARK = b"w"  # + the role: its market_ticks watermark advanced
_STALE = object()  # a doorbell file to read again at the next ring
_DRAIN_MAX = 4096  # datagrams read per wake at most (a backlog of rings means the same as one)
_sender: socket.socket | None = None
_sender_lock = threading.Lock()


def doorbell_path(run_dir: Path, role: str) -> Path:
    """`<run>/roles/<role>/doorbell.port`: the port `role`'s doorbell listens on (the role's own folder)."""
    return Path(run_dir) / "roles" / role / PORT_FILE


def _send_socket() -> socket.socket:
    """This process's one sending socket (non-blocking: a ring must never hold up its producer)."""
    global _sender
    with _sender_lock:
        if _sender is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            _sender = sock
        return _sender


def lines_ring(queue: str | None) -> bytes:
    """The datagram a producer of `queue` sends after an append (None: a queue it does not name)."""
    return LINES_RING + (queue or "").encode("ascii")


def watermark_ring(role: str) -> bytes:
    """The datagram `role` sends when its market_ticks watermark advanced."""
    return _MARK + role.encode("ascii")


def is_control(data: bytes) -> bool:
    """Whether a received datagram announces a control file (anything but a new-lines or a watermark ring)."""
    return not data.startswith(LINES_RING) and not data.startswith(_MARK)


def read_bell(path: Path) -> tuple[int, frozenset[str], frozenset[str]] | None:
    """(port, muted queues, sparse queues) of a doorbell file; None when there is none (yet) or it is not one."""
    try:
        doc = json.loads(path.read_bytes())
        port, mute, sparse = doc["port"], frozenset(doc.get("mute", ())), frozenset(doc.get("sparse", ()))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if type(port) is not int or not 0 < port < 65536 or not all(isinstance(q, str) for q in mute | sparse):
        return None
    return port, mute, sparse


class Doorbell:
    """The receiving end: one per role process, created after the role holds its instance lock."""

    def __init__(self, run_dir: Path, role: str) -> None:
        self.path = doorbell_path(run_dir, role)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((HOST, 0))
            self.sock.setblocking(False)
            self.port = int(self.sock.getsockname()[1])
            self.control = False  # a control ring (or an unknown datagram) arrived: see `take_control`
            self.lines: set[str] = set()  # the queues whose new-lines rings arrived ("": unnamed): `take_rings`
            self.marks: set[str] = set()  # the roles whose watermark rings arrived: see `take_rings`
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.mute()
        except BaseException:
            self.sock.close()
            raise

    def mute(self, queues: Iterable[str] = (), sparse: Iterable[str] = ()) -> None:
        """(Re)publish the port, asking producers of `queues` not to ring (the role waits for another ring) and
        producers of `sparse` to ring only for urgent batches (the role takes the others at its safety net)."""
        doc = {"port": self.port, "mute": sorted(queues), "sparse": sorted(sparse)}
        # Not fsynced: after a crash of the machine the run is over; a reader sees old or new, never half.
        atomic_write_bytes(self.path, json.dumps(doc).encode("ascii"), fsync=False)

    def wait(self, timeout_s: float) -> bool:
        """Block until a ring or `timeout_s` passes; True when rung (pending rings are consumed)."""
        if timeout_s > 0 and self.sock.fileno() >= 0:
            select.select([self.sock], [], [], timeout_s)
        return self.drain()

    def drain(self) -> bool:
        """Consume every ring already received without blocking; True if there was one."""
        rung = False
        for _ in range(_DRAIN_MAX):
            try:
                data = self.sock.recv(16)
            except (BlockingIOError, InterruptedError):
                return rung
            except ConnectionResetError:
                # Windows reports an earlier ICMP "port unreachable" on the socket once: not a ring.
                continue
            except OSError:
                return rung  # closed: nothing more to wait for
            rung = True
            if data.startswith(LINES_RING):
                self.lines.add(data[len(LINES_RING) :].decode("ascii", "replace"))
            elif is_control(data):
                self.control = True
            else:
                self.marks.add(data[len(_MARK) :].decode("ascii", "replace"))
        return rung

    def take_control(self) -> bool:
        """Whether a control ring arrived since the last call (consumed)."""
        control, self.control = self.control, False
        return control

    def take_rings(self) -> tuple[frozenset[str], frozenset[str]]:
        """(the queues whose new-lines rings arrived, "" for a ring naming none; the roles whose watermark
        rings arrived) since the last call (consumed)."""
        lines, marks = frozenset(self.lines), frozenset(self.marks)
        self.lines.clear()
        self.marks.clear()
        return lines, marks

    def close(self) -> None:
        """Close the socket (the port file stays: a ring to a closed port is simply lost)."""
        self.sock.close()


def queue_ringer(run_dir: Path, consumers: tuple[str, ...], queue: str) -> Callable[[bool], None]:
    """What `RunContext(ringer=...)` calls per producer: rings `queue`'s consumers after each append."""
    return Ringer(run_dir, consumers, queue).ring


class Ringer:
    """Rings the doorbells of a fixed set of roles of one run: the consumers of `queue` (roles that muted it
    are skipped, roles that listen to it sparsely are skipped unless the batch is urgent) with the datagram
    naming it, or with `queue` None unconditionally with the datagram `ring` (a watermark, a STOP, a shutdown
    request; by default an unnamed new-lines ring)."""

    def __init__(
        self, run_dir: Path, roles: Iterable[str], queue: str | None = None, ring: bytes | None = None
    ) -> None:
        self.queue = queue
        self._byte = ring if ring is not None else lines_ring(queue)
        self._paths = [str(doorbell_path(run_dir, role)) for role in dict.fromkeys(roles)]
        self._ports: list[int | None] = [None] * len(self._paths)
        self._sparse: list[bool] = [False] * len(self._paths)  # rung for urgent batches only
        self._seen: list[object] = [None] * len(self._paths)  # (inode, mtime, size) of the file last read

    def ring(self, urgent: bool = True) -> None:
        """One datagram to each role's doorbell that has not muted the queue (nor listens to it sparsely,
        unless `urgent`); never blocks, never raises.

        Each doorbell file is stat'ed at every ring and read again when it changed (a role replaces it
        when it restarts on a new port or mutes / unmutes a queue), so a role that unmutes is rung from
        the producer's next append on. A file that cannot be stat'ed or read this time (Windows: being
        replaced) keeps its last known port."""
        sender = _send_socket()
        for i, path in enumerate(self._paths):
            try:
                st = os.stat(path)
                key: object = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                key = None
            except OSError:
                key = self._seen[i]
            if key != self._seen[i]:
                bell = read_bell(Path(path)) if key is not None else None
                if key is not None and bell is None:
                    self._seen[i] = _STALE  # there but unreadable (Windows: being replaced): read it next time
                else:
                    self._ports[i] = None if bell is None or self.queue in bell[1] else bell[0]
                    self._sparse[i] = bell is not None and self.queue in bell[2]
                    self._seen[i] = key
            port = self._ports[i]
            if port is None or (self._sparse[i] and not urgent):
                continue
            try:
                sender.sendto(self._byte, (HOST, port))
            except OSError:
                self._seen[i] = _STALE  # a stale port (or a full buffer): read the file next time


def ring_roles(run_dir: Path, roles: Iterable[str]) -> None:
    """Ring `roles` once about a control file (a shutdown request)."""
    Ringer(run_dir, roles, ring=CONTROL_RING).ring()


def ring_all(run_dir: Path) -> None:
    """Ring every role of the run that has a doorbell about a control file (a STOP: every role must halt at
    once)."""
    with contextlib.suppress(OSError):
        roles = [p.parent.name for p in (Path(run_dir) / "roles").glob(f"*/{PORT_FILE}")]
        ring_roles(run_dir, roles)
