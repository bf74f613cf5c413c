"""Fuzz: secrets files of any bytes end in loaded secrets or ConfigInvalid, and never show a value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from minibot.reasons import ConfigInvalid
from minibot.watchdog.secrets import load_secrets
from tests.fuzz.cases import CASES, FUZZ, work_dir

WORK = work_dir("nore-fuzz-secrets-")
MARKER = "Zq9-secret-marker-7731"
LINES = st.one_of(
    st.just(f"BINANCE_API_KEY={MARKER}"),
    st.just(f'export BINANCE_SECRET="{MARKER}"'),
    st.just("# comment"),
    st.just(""),
    st.text(max_size=40),
)


def _load(data: bytes) -> None:
    path = WORK / "secrets.env"
    path.write_bytes(data)
    cfg = {"secrets": {"path": str(path), "env_var": "NORE_SECRETS_FILE"}}
    try:
        load_secrets(cfg, {}, [])
    except ConfigInvalid as exc:
        assert MARKER not in str(exc) and exc.detail


@FUZZ
@given(st.lists(LINES, max_size=8), st.sampled_from(["utf-8", "utf-16", "utf-8-sig", "latin-1"]))
def test_secrets_text_in_any_encoding(lines: list[str], encoding: str) -> None:
    CASES["secrets (text)"] += 1
    try:
        data = "\n".join(lines).encode(encoding)
    except UnicodeEncodeError:
        return
    _load(data)


@FUZZ
@given(st.binary(max_size=200))
def test_secrets_any_bytes(data: bytes) -> None:
    CASES["secrets (bytes)"] += 1
    _load(data)
