"""Run identity (R-P4, R-C2): run_id format, cmdline_hash, deterministic UUID-v4-format ids."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minibot.ids import RUN_ID_RE, cmdline_hash, deterministic_id, deterministic_ids, new_run_id, process_command_line


def test_run_id_is_utc_timestamp() -> None:
    assert new_run_id(datetime(2026, 11, 24, 22, 53, 7, tzinfo=UTC)) == "20261124_225307"
    assert RUN_ID_RE.match(new_run_id())


@given(st.lists(st.text(max_size=10), min_size=1, max_size=4))
def test_deterministic_ids_are_uuid4_and_stable(parts: list[str]) -> None:
    value = deterministic_id(*parts)
    parsed = uuid.UUID(value)
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert value == deterministic_id(*parts) == str(parsed)


@given(st.lists(st.text(max_size=10), max_size=3), st.text(max_size=10))
def test_prefixed_ids_equal_deterministic_id(prefix: list[str], last: str) -> None:
    assert deterministic_ids(*prefix)(last) == deterministic_id(*prefix, last)


def test_distinct_inputs_give_distinct_ids() -> None:
    ids = {deterministic_id("run", "role", str(i)) for i in range(10_000)}
    assert len(ids) == 10_000
    assert deterministic_id("a", "bc") != deterministic_id("ab", "c")


@pytest.mark.process
def test_cmdline_hash_is_sha256_of_the_process_command_line() -> None:
    code = "from minibot.ids import process_command_line as p; print(p())"
    out = subprocess.run([sys.executable, "-c", code, "--flag", "x y"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"{sys.executable} -c {code} --flag x y"
    assert cmdline_hash("abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(cmdline_hash(process_command_line())) == 64
