"""Binance's error body `{"code", "msg"}` and the JSON responses every endpoint returns."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from minibot.reasons import Refusal

# Production's exact content type; binance-sdk-spot only parses error bodies whose type starts with this.
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"

MSG_TOO_MUCH_WEIGHT = (
    "Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
MSG_BANNED = (
    "Way too much request weight used; IP banned until {until}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)
MSG_UNKNOWN = "An unknown error occurred while processing the request."
MSG_TIMEOUT = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
MSG_BUSY = "Server is currently overloaded with other requests. Please try again in a few minutes."
MSG_BAD_KEY_FMT = "API-key format invalid."
MSG_REJECTED_KEY = "Invalid API-key, IP, or permissions for action."


class BinanceError(Refusal):
    """An error Binance answers with HTTP `status` and body `{"code": code, "msg": msg}`."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def mandatory(name: str) -> BinanceError:
    """-1102 for a missing mandatory parameter."""
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str, legal: str) -> BinanceError:
    """-1100 for a parameter with characters outside its legal range."""
    return BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def invalid_value(name: str) -> BinanceError:
    """-1130 for a parameter whose value is not acceptable."""
    return BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with production's content type."""
    hdrs = {"Content-Type": JSON_CONTENT_TYPE}
    if headers:
        hdrs.update(headers)
    return web.Response(body=orjson.dumps(body), status=status, headers=hdrs)


def error_response(err: BinanceError, headers: dict[str, str] | None = None) -> web.Response:
    """The JSON error response for `err`."""
    return json_response({"code": err.code, "msg": err.msg}, err.status, headers)
