"""Issue 13 defect 1: a secrets file that is not UTF-8 is one clear line, never a traceback or a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.reasons import ConfigInvalid
from minibot.watchdog.secrets import load_secrets

SECRET = "s3cr3t-value-0123456789"


def _cfg(path: Path | str) -> dict[str, dict[str, object]]:
    return {"secrets": {"path": str(path), "env_var": "NORE_SECRETS_FILE"}}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (f"BINANCE_API_KEY={SECRET}\n".encode("utf-16"), "UTF-16"),
        (f"BINANCE_API_KEY={SECRET}\xff\n".encode("latin-1"), r"byte \d+ is not UTF-8"),
    ],
)
def test_non_utf8_secrets_file(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "secrets.env"
    path.write_bytes(data)
    with pytest.raises(ConfigInvalid, match=match) as exc:
        load_secrets(_cfg(path), {}, [])
    assert SECRET not in str(exc.value)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_bytes(b"\xef\xbb\xbfBINANCE_API_KEY=" + SECRET.encode() + b"\n")
    assert SECRET in load_secrets(_cfg(path), {}, []).values


def test_nul_in_the_path_is_refused() -> None:
    with pytest.raises(ConfigInvalid, match="NUL"):
        load_secrets(_cfg("a\x00b"), {}, [])
