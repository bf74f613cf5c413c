"""STOP / REJECT reason codes and the typed exceptions that carry them.

This module is the one place reason codes are defined (docs/reference.md and docs/operations.md describe
each one; a test checks the docs cover every member).
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Why something was stopped or refused. `T1`..`T7` map to the spec's STOP conditions (R-T)."""

    # R-T1 contract / schema
    SCHEMA_INVALID = "SCHEMA_INVALID"
    ENVELOPE_EXTRA_FIELD = "ENVELOPE_EXTRA_FIELD"
    ENVELOPE_MISSING_FIELD = "ENVELOPE_MISSING_FIELD"
    ENVELOPE_BAD_ID = "ENVELOPE_BAD_ID"
    ENVELOPE_BAD_RUN_ID = "ENVELOPE_BAD_RUN_ID"
    ENVELOPE_WRONG_TYPE = "ENVELOPE_WRONG_TYPE"
    PAYLOAD_INVALID = "PAYLOAD_INVALID"
    NON_FINITE_NUMBER = "NON_FINITE_NUMBER"
    UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
    PRODUCER_NOT_ALLOWED = "PRODUCER_NOT_ALLOWED"
    TYPE_NOT_ALLOWED_ON_QUEUE = "TYPE_NOT_ALLOWED_ON_QUEUE"
    RUN_ID_MISMATCH = "RUN_ID_MISMATCH"
    # R-T2 sha256 JSONL framing
    LINE_BAD_PREFIX = "LINE_BAD_PREFIX"
    LINE_HASH_MISMATCH = "LINE_HASH_MISMATCH"
    LINE_BAD_JSON = "LINE_BAD_JSON"
    LINE_NOT_UTF8 = "LINE_NOT_UTF8"
    LINE_TORN = "LINE_TORN"
    # R-T3 non-atomic critical file
    NON_ATOMIC_WRITE = "NON_ATOMIC_WRITE"
    # R-T4 Binance health
    BINANCE_UNREACHABLE = "BINANCE_UNREACHABLE"
    BINANCE_ERROR_RATE = "BINANCE_ERROR_RATE"
    BINANCE_BANNED = "BINANCE_BANNED"
    MARKET_DATA_STALE = "MARKET_DATA_STALE"
    # R-T5 risk
    RISK_LOSS_LIMIT_RUN = "RISK_LOSS_LIMIT_RUN"
    RISK_LOSS_LIMIT_DAY = "RISK_LOSS_LIMIT_DAY"
    RISK_MAX_DRAWDOWN = "RISK_MAX_DRAWDOWN"
    RISK_INCONSISTENT = "RISK_INCONSISTENT"
    # R-T6 queue / cursor desync
    CURSOR_DESYNC = "CURSOR_DESYNC"
    ACKS_OUT_OF_ORDER = "ACKS_OUT_OF_ORDER"
    CHAIN_MISMATCH = "CHAIN_MISMATCH"
    DUPLICATE_ID = "DUPLICATE_ID"
    CONSUMER_LAG = "CONSUMER_LAG"
    OUTPUT_DIVERGED = "OUTPUT_DIVERGED"
    TIMELINE_ORDER = "TIMELINE_ORDER"
    PORTFOLIO_SNAPSHOT_MISMATCH = "PORTFOLIO_SNAPSHOT_MISMATCH"
    # R-T7 command line identity
    CMDLINE_HASH_MISSING = "CMDLINE_HASH_MISSING"
    CMDLINE_HASH_MALFORMED = "CMDLINE_HASH_MALFORMED"
    CMDLINE_HASH_MISMATCH = "CMDLINE_HASH_MISMATCH"
    # Run / supervisor
    CONFIG_INVALID = "CONFIG_INVALID"
    ROLE_RESTART_LIMIT = "ROLE_RESTART_LIMIT"
    ROLE_FAILED = "ROLE_FAILED"
    DISK_LOW = "DISK_LOW"
    LOCK_TIMEOUT = "LOCK_TIMEOUT"
    FILE_REPLACE_FAILED = "FILE_REPLACE_FAILED"
    ORDER_ENDPOINT_CALLED = "ORDER_ENDPOINT_CALLED"
    AI_ISOLATION_BREACH = "AI_ISOLATION_BREACH"
    EXECUTION_SOURCE_NOT_ALLOWED = "EXECUTION_SOURCE_NOT_ALLOWED"
    OPERATOR_KILL_SWITCH = "OPERATOR_KILL_SWITCH"
    MACHINE_SUSPENDED = "MACHINE_SUSPENDED"
    INJECTED_FAULT = "INJECTED_FAULT"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class RejectCode(StrEnum):
    """Why the risk layer or the paper executor refused one order (journaled, not a STOP)."""

    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    MAX_POSITION_NOTIONAL = "MAX_POSITION_NOTIONAL"
    MAX_TOTAL_EXPOSURE = "MAX_TOTAL_EXPOSURE"
    MAX_TRADES_PER_WINDOW = "MAX_TRADES_PER_WINDOW"
    MIN_GAP_PER_SYMBOL = "MIN_GAP_PER_SYMBOL"
    STALE_MARKET_DATA = "STALE_MARKET_DATA"
    MAX_SPREAD = "MAX_SPREAD"
    COOLDOWN_AFTER_LOSSES = "COOLDOWN_AFTER_LOSSES"
    LOSS_LIMIT_WOULD_EXCEED = "LOSS_LIMIT_WOULD_EXCEED"
    DRAWDOWN_WOULD_EXCEED = "DRAWDOWN_WOULD_EXCEED"
    KILL_SWITCH = "KILL_SWITCH"
    INSUFFICIENT_CASH = "INSUFFICIENT_CASH"
    NO_POSITION = "NO_POSITION"
    FILTER_PRICE = "FILTER_PRICE"
    FILTER_LOT_SIZE = "FILTER_LOT_SIZE"
    FILTER_MIN_NOTIONAL = "FILTER_MIN_NOTIONAL"
    FILTER_MAX_NOTIONAL = "FILTER_MAX_NOTIONAL"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"


class DeployCode(StrEnum):
    """Why `nore stage` / `nore deploy` refused a file (R-D1; journaled as a REFUSED deploy_event, not a STOP)."""

    PATH_ESCAPES_ROOT = "PATH_ESCAPES_ROOT"
    PATH_INVALID = "PATH_INVALID"
    PATH_DUPLICATE = "PATH_DUPLICATE"
    SOURCE_NOT_FILE = "SOURCE_NOT_FILE"
    SOURCE_IN_STAGING = "SOURCE_IN_STAGING"
    NOTHING_STAGED = "NOTHING_STAGED"
    MANIFEST_MISSING = "MANIFEST_MISSING"
    MANIFEST_DAMAGED = "MANIFEST_DAMAGED"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    FILE_MISSING = "FILE_MISSING"
    FILE_TAMPERED = "FILE_TAMPERED"
    FILE_UNLISTED = "FILE_UNLISTED"
    TARGET_MISSING = "TARGET_MISSING"
    TARGET_EXISTS = "TARGET_EXISTS"
    TARGET_NOT_FILE = "TARGET_NOT_FILE"
    TARGET_ESCAPES = "TARGET_ESCAPES"


class VerifyCode(StrEnum):
    """Why `nore verify` failed a run (R-Q5), beside the journal / STOP codes of `ReasonCode` it also reports.

    Verdict reasons, not STOPs: they describe a finished run in the morning.
    """

    ROLE_SILENT = "ROLE_SILENT"
    RUN_ENDED_EARLY = "RUN_ENDED_EARLY"
    REQUEST_LOG_MISSING = "REQUEST_LOG_MISSING"
    BINANCE_NOT_MEASURED = "BINANCE_NOT_MEASURED"
    BINANCE_LATENCY_HIGH = "BINANCE_LATENCY_HIGH"
    METRICS_MISSING = "METRICS_MISSING"
    METRICS_INCOMPLETE = "METRICS_INCOMPLETE"
    METRICS_MISMATCH = "METRICS_MISMATCH"
    STOP_NOT_INJECTED = "STOP_NOT_INJECTED"
    STOP_UNJOURNALED = "STOP_UNJOURNALED"
    CRITICAL_FILE_MISSING = "CRITICAL_FILE_MISSING"
    ORDER_RESULT_MISSING = "ORDER_RESULT_MISSING"
    ORDER_RESULT_DUPLICATED = "ORDER_RESULT_DUPLICATED"
    FILLS_MISMATCH = "FILLS_MISMATCH"
    RUN_ENDED_BY_CONSOLE = "RUN_ENDED_BY_CONSOLE"


class NoreError(Exception):
    """Base for every fail-closed error: carries the STOP reason code and a specific detail."""

    reason_code: ReasonCode = ReasonCode.INTERNAL_ERROR

    def __init__(self, detail: str, reason_code: ReasonCode | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason_code is not None:
            self.reason_code = reason_code

    def __str__(self) -> str:
        return f"{self.reason_code.value}: {self.detail}"


class Refusal(NoreError):
    """Bad input or a failed check outside a run's STOP path: a deploy, data file, scenario, model file or
    market message refused, a run folder that cannot be verified, a gate that failed, an installation or a
    simulator that cannot start. It stops no run (a caller reports it and exits), so its message is the
    detail alone, as the commands print it; `reason_code` stays INTERNAL_ERROR, the STOP one would be if it
    ever escaped into a role's fail-closed handler."""

    def __str__(self) -> str:
        return Exception.__str__(self)


class ContractViolation(NoreError):
    """An event breaks its envelope or payload contract (R-T1)."""

    reason_code = ReasonCode.SCHEMA_INVALID


class JournalCorrupt(NoreError):
    """A journal line breaks the sha256 framing (R-T2)."""

    reason_code = ReasonCode.LINE_HASH_MISMATCH


class NonAtomicWrite(NoreError):
    """A critical file was not written atomically: partial, foreign or hash-less content (R-T3)."""

    reason_code = ReasonCode.NON_ATOMIC_WRITE


class LockTimeout(NoreError):
    """A cross-process lock stayed taken past its deadline (a hung holder, or a second process on the files)."""

    reason_code = ReasonCode.LOCK_TIMEOUT


class ReplaceFailed(NoreError, OSError):
    """`os.replace` of a file kept failing past its deadline (a scanner or sync tool holds it open). Still an
    OSError, so code that handles a file it cannot write handles this one too."""

    reason_code = ReasonCode.FILE_REPLACE_FAILED


class CursorDesync(NoreError):
    """Cursor, acks and queue content do not add up (R-T6)."""

    reason_code = ReasonCode.CURSOR_DESYNC


class ConfigInvalid(NoreError):
    """The configuration file is invalid: names the key path and what was expected."""

    reason_code = ReasonCode.CONFIG_INVALID


class RiskBreach(NoreError):
    """A risk limit is breached beyond refusal: the run must STOP (R-T5, R-K4)."""

    reason_code = ReasonCode.RISK_MAX_DRAWDOWN
