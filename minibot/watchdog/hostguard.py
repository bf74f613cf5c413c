"""What the supervisor asks of the machine it runs on for the length of a run (Windows; a no-op elsewhere).

`HostGuard.start()` after run.json's folder exists: the machine is held awake (not the display), QuickEdit
is turned off on the console, and a console control handler is registered. `HostGuard.close()` at the very
end releases all three, whatever ended the run.

Closing the console window, logging off, shutting down or Ctrl+Break: the handler (on a thread Windows
creates) records the event in `<run>/control/console_closed.json`, then writes the operator stop file
`<run>/control/stop`, so the supervisor begins the normal graceful ending; it then waits up to
`HANDLER_WAIT_S` for the run to end, since Windows ends the process about 5 s after a close. Roles run
without the console (minibot.winsys.popen_group_kwargs) and end by themselves when the supervisor is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from minibot.journal.atomic import atomic_write_bytes
from minibot.journal.console_record import write_console_record
from minibot.journal.doorbell import ring_roles
from minibot.rolenames import Role
from minibot.runlayout import OPERATOR_STOP_FILE
from minibot.winsys import ConsoleEvents, KeepAwake, Kernel32, QuickEditOff, kernel32

SUPERVISOR_BELL = Role.WATCHDOG.value  # the doorbell the supervisor's watch loop sleeps on
HANDLER_WAIT_S = 4.0  # inside Windows' 5 s grace after CTRL_CLOSE_EVENT
log = logging.getLogger("nore.supervisor.host")


class HostGuard:
    """Keep-awake, QuickEdit off and the console control handler for one run (see the module docstring)."""

    def __init__(self, run_dir: Path, k32: Kernel32 | None = None, wait_s: float = HANDLER_WAIT_S) -> None:
        self.run_dir = Path(run_dir)
        k = k32 if k32 is not None else kernel32()
        self.awake = KeepAwake(k)
        self.quickedit = QuickEditOff(k)
        self.events = ConsoleEvents(self.on_console_event, k)
        self.wait_s = wait_s
        self.ended = threading.Event()  # set by close(): the handler may return

    def start(self) -> dict[str, bool]:
        """Acquire everything; returns what is held, for run.json (`keep_awake`, `quickedit_off`, `console_handler`)."""
        held = {
            "keep_awake": self.awake.acquire(),
            "quickedit_off": self.quickedit.apply(),
            "console_handler": self.events.register(),
        }
        log.info("host: %s", held)
        return held

    def on_console_event(self, event: str) -> None:
        """Record the event, ask the run to end (stop file), wait a bounded time for the ending."""
        try:
            ended_by = write_console_record(self.run_dir, event, time.time())
            atomic_write_bytes(self.run_dir / OPERATOR_STOP_FILE, f"{ended_by}\n".encode(), fsync=True)
            ring_roles(self.run_dir, [SUPERVISOR_BELL])  # the watch loop sees the file now
        except OSError as exc:  # the handler thread must return: the run then ends without its record
            log.error("console event %s: could not write the stop file: %s", event, exc)
            return
        log.warning("console event %s: the run is ending (stop file written)", event)
        self.ended.wait(self.wait_s)

    def close(self) -> None:
        """Release everything (idempotent); a waiting console handler returns."""
        self.ended.set()
        self.events.unregister()
        self.quickedit.restore()
        self.awake.release()
