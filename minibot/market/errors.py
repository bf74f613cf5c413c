"""Typed errors of the Binance public-market-data client.

Every error carries the STOP reason code the health policy would use if the condition persisted, so a
caller that must fail closed can do so without re-classifying the exception.
"""

from __future__ import annotations

from minibot.reasons import NoreError, ReasonCode


class MarketError(NoreError):
    """Base of every market-client error."""

    reason_code = ReasonCode.BINANCE_ERROR_RATE


class ForbiddenRequest(MarketError):
    """A request outside the public allow-list was attempted: refused before any byte is sent."""

    reason_code = ReasonCode.ORDER_ENDPOINT_CALLED


class TransportError(MarketError):
    """No HTTP answer at all: refused connection, DNS failure, timeout, reset (counts as unreachable)."""

    reason_code = ReasonCode.BINANCE_UNREACHABLE


class HttpError(MarketError):
    """Binance answered with a non-2xx status (or a 2xx body that is not the documented JSON)."""

    def __init__(self, detail: str, status: int, code: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code


class RateLimited(HttpError):
    """HTTP 429: over the request-weight limit; no call may be sent before `retry_after_s` passes."""

    def __init__(self, detail: str, status: int, code: int | None, retry_after_s: float) -> None:
        super().__init__(detail, status, code)
        self.retry_after_s = retry_after_s


class Banned(MarketError):
    """HTTP 418 (IP banned), or a call refused locally because a ban is still running."""

    reason_code = ReasonCode.BINANCE_BANNED

    def __init__(self, detail: str, until_ms: int) -> None:
        super().__init__(detail)
        self.until_ms = until_ms
