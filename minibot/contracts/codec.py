"""The sha256 JSONL line codec (R-C1): `sha256:<64 lowercase hex>:<compact UTF-8 JSON>\\n`.

The hash covers exactly the JSON bytes as written on the line, so a reader verifies the bytes it read,
not a re-serialization of them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from minibot.reasons import JournalCorrupt, ReasonCode

PREFIX = b"sha256:"
_HEX_LEN = 64
_HEX_START = len(PREFIX)
_JSON_START = _HEX_START + _HEX_LEN + 1  # "sha256:" + hex + ":"
_HEX_CHARS = frozenset(b"0123456789abcdef")
_COLON = ord(":")


def encode_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON. orjson refuses non-str keys; NaN/inf become null and then fail the schema."""
    return orjson.dumps(obj)


def frame(json_bytes: bytes) -> bytes:
    """Frame already-serialized JSON bytes as one journal line (with its newline)."""
    return PREFIX + hashlib.sha256(json_bytes).hexdigest().encode("ascii") + b":" + json_bytes + b"\n"


def frame_all(json_lines: list[bytes]) -> bytes:
    """`frame` of each, joined: a batch of journal lines in one pass (the backtest's hot path)."""
    sha256 = hashlib.sha256
    parts: list[bytes] = []
    add = parts.extend
    for j in json_lines:
        add((PREFIX, sha256(j).hexdigest().encode("ascii"), b":", j, b"\n"))
    return b"".join(parts)


def encode_line(obj: Any) -> bytes:
    """Serialize `obj` and frame it as one journal line."""
    return frame(encode_json(obj))


def split_line(line: bytes) -> tuple[str, bytes]:
    """Check a line's framing and hash; return (hex digest, JSON bytes). `line` may end in b"\n".

    Hot path (every line every reader reads): hash the JSON where a well-formed line has it and compare; the
    finer diagnosis (bad prefix vs hash mismatch vs embedded newline) runs only when that fails.
    """
    payload = line[_JSON_START:-1] if line.endswith(b"\n") else line[_JSON_START:]
    actual = hashlib.sha256(payload).hexdigest()
    if (  # the digest slice can only equal 64 characters when the line is long enough to hold it
        line[_HEX_START : _JSON_START - 1] == actual.encode("ascii")
        and line.startswith(PREFIX)
        and line[_JSON_START - 1 : _JSON_START] == b":"
    ):
        return actual, payload
    end = len(line) - 1 if line.endswith(b"\n") else len(line)
    if end < _JSON_START or not line.startswith(PREFIX) or line[_JSON_START - 1] != _COLON:
        raise JournalCorrupt("line does not start with 'sha256:<64 hex>:'", ReasonCode.LINE_BAD_PREFIX)
    digest = line[_HEX_START : _JSON_START - 1]
    if not _HEX_CHARS.issuperset(digest):
        raise JournalCorrupt("hash is not 64 lowercase hex characters", ReasonCode.LINE_BAD_PREFIX)
    if b"\n" in payload:
        raise JournalCorrupt("embedded newline inside one line", ReasonCode.LINE_BAD_PREFIX)
    raise JournalCorrupt(
        f"sha256 of the JSON bytes is {actual}, line says {digest.decode('ascii')}", ReasonCode.LINE_HASH_MISMATCH
    )


def decode_line(line: bytes) -> Any:
    """Verify and decode one journal line into its JSON value."""
    _, payload = split_line(line)
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JournalCorrupt(f"JSON is not valid UTF-8: {exc}", ReasonCode.LINE_NOT_UTF8) from None
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise JournalCorrupt(f"JSON does not parse: {exc}", ReasonCode.LINE_BAD_JSON) from None
