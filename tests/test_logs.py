"""Process logs (minibot/logs.py): one JSON object per line, secrets redacted, rotation by size."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from minibot.config.loader import load_config
from minibot.logs import REDACTED, LoggingConfig, configure_logging

FAKE = "NORE_TEST_FAKE_KEY_0123456789abcdef"


def test_log_lines_are_json_and_secrets_are_redacted(tmp_path: Path) -> None:
    cfg = LoggingConfig.from_config(load_config())
    configure_logging(tmp_path, cfg, "supervisor", [FAKE])
    log = logging.getLogger("nore.test")
    log.info("key is %s", FAKE)
    try:
        raise ValueError(f"bad {FAKE}")
    except ValueError:
        log.exception("failed with %r", {"k": FAKE})
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = (tmp_path / "logs" / "supervisor.log").read_text(encoding="utf-8")
    assert FAKE not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [d["msg"] for d in lines] == [f"key is {REDACTED}", f"failed with {{'k': '{REDACTED}'}}"]
    assert lines[1]["role"] == "supervisor" and lines[1]["level"] == "ERROR" and REDACTED in lines[1]["exc"]
    logging.getLogger().handlers.clear()


def test_log_rotation_by_size(tmp_path: Path) -> None:
    cfg = replace(LoggingConfig.from_config(load_config()), max_bytes=4096, backup_count=2)
    configure_logging(tmp_path, cfg, "r", [])
    for i in range(400):
        logging.getLogger("nore.test").info("line %d %s", i, "x" * 50)
    logging.getLogger().handlers.clear()
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["r.log", "r.log.1", "r.log.2"]
    assert all(p.stat().st_size <= 4096 for p in (tmp_path / "logs").iterdir())
