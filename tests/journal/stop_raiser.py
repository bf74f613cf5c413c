"""Child process for test_stop: waits for a go file, then raises the STOPs named on its command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from minibot.contracts.examples import EXAMPLE_CMDLINE_HASH, EXAMPLE_RUN_ID
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.stop import stop
from minibot.reasons import ReasonCode

GO_WAIT_S = 30.0


def main() -> None:
    run_dir, role, codes = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    ctx = RunContext(run_dir, EXAMPLE_RUN_ID, EXAMPLE_CMDLINE_HASH, lambda: 1_723_161_255_342, scratch_queues())
    (run_dir / f"ready.{role}").touch()
    deadline = time.monotonic() + GO_WAIT_S
    while not (run_dir / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    for code in codes:
        stop(ctx, source=role, component="watchdog_role", reason_code=ReasonCode(code), detail=f"{code} seen")


if __name__ == "__main__":
    main()
