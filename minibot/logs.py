"""Structured, size-rotated logs for the supervisor and every role (R-G5), with secrets redacted (R-P5).

One JSON object per line: `ts` (wall-clock ISO 8601 UTC: a log line is an operator's record of when
something happened, not a run-clock event), `level`, `role`, `logger`, `msg`, and `exc` when an exception
is attached. Files are `<run>/<logging.dir>/<role>.log`, rotated by `logging.max_bytes` keeping
`logging.backup_count` old files. Every handler carries a `RedactFilter`: any registered secret value is
replaced by `[REDACTED]` in the message, its arguments and the exception text before anything is written.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from minibot.sectionview import SectionView

REDACTED = "[REDACTED]"
# Values shorter than this are not treated as secrets: redacting "1" or "ab" would garble every line.
MIN_SECRET_LEN = 6


class RedactFilter(logging.Filter):
    """Replaces every registered secret value in a record before any handler formats it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secret values (longest first, so a secret containing another is fully hidden)."""
        merged = set(self._secrets) | {s for s in secrets if len(s) >= MIN_SECRET_LEN}
        self._secrets = sorted(merged, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """`text` with every secret replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, scrubbed, so formatters never see the raw arguments."""
        if self._secrets:
            record.msg = self.scrub(record.getMessage())
            record.args = None
            if record.exc_info:
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonLineFormatter(logging.Formatter):
    """One compact JSON object per record."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (without the newline)."""
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "role": self.role,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class LoggingConfig(SectionView):
    """The `logging` section of the config: each process's rotated JSON-lines log (its view lives here, beside
    its one reader, because this module sits below the config package)."""

    SECTION: ClassVar[str] = "logging"

    dir: str
    level: str
    max_bytes: int
    backup_count: int


def log_path(run_dir: Path, logging_cfg: LoggingConfig, role: str) -> Path:
    """`<run>/<logging.dir>/<role>.log`."""
    return Path(run_dir) / logging_cfg.dir / f"{role}.log"


def configure_logging(
    run_dir: Path, logging_cfg: LoggingConfig, role: str, secrets: Iterable[str] = ()
) -> RedactFilter:
    """Send every `logging` record of this process to the role's rotated JSON log; returns the redactor.

    Replaces any handler already on the root logger, so a process logs to exactly one file.
    """
    path = log_path(run_dir, logging_cfg, role)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path,
        maxBytes=logging_cfg.max_bytes,
        backupCount=logging_cfg.backup_count,
        encoding="utf-8",
    )
    redactor = RedactFilter(secrets)
    handler.addFilter(redactor)
    handler.setFormatter(JsonLineFormatter(role))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(logging_cfg.level)
    logging.captureWarnings(True)
    return redactor
