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

from minibot.ids import (
    RUN_ID_RE,
    cmdline_hash,
    deterministic_id,
    new_run_id,
    process_command_line,
    random_id,
    sequential_ids,
)


def test_run_id_is_utc_timestamp() -> None:
    assert new_run_id(datetime(2026, 11, 24, 22, 53, 7, tzinfo=UTC)) == "20261124_225307"
    assert RUN_ID_RE.match(new_run_id())


@given(st.lists(st.text(max_size=10), min_size=1, max_size=4))
def test_deterministic_ids_are_uuid4_and_stable(parts: list[str]) -> None:
    value = deterministic_id(*parts)
    parsed = uuid.UUID(value)
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert value == deterministic_id(*parts) == str(parsed)


@given(st.lists(st.text(max_size=10), max_size=5))
def test_deterministic_ids_equal_the_uuid_module_formatting_of_the_digest(parts: list[str]) -> None:
    # The ids written by earlier runs must not change: the former construction through uuid.UUID, by hand.
    digest = bytearray(hashlib.sha256(b"minibot.nore.id.v1\0" + "\0".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    assert deterministic_id(*parts) == str(uuid.UUID(bytes=bytes(digest)))


@given(st.lists(st.text(max_size=10), max_size=3), st.integers(0, 2**48 - 1))
def test_sequential_ids_are_uuid4_stable_and_keep_the_prefix_bits(prefix: list[str], n: int) -> None:
    value = sequential_ids(*prefix)(n)
    parsed = uuid.UUID(value)
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and value == str(parsed)
    assert value == sequential_ids(*prefix)(n)
    assert value[:24] == deterministic_id(*prefix)[:24] and int(value[24:], 16) == n


def test_sequential_ids_are_distinct_per_number_and_per_prefix() -> None:
    run_a, run_b = sequential_ids("20240808_235415", "market_ticks"), sequential_ids("20240808_235416", "market_ticks")
    ids = {make(n) for make in (run_a, run_b) for n in range(10_000)}
    assert len(ids) == 20_000


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


def test_random_ids_are_canonical_uuid4_text_with_every_random_bit_used() -> None:
    ids = [random_id() for _ in range(4000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == value
    # Each of the 122 random bits is set in some ids and clear in others (a stuck bit would fail this).
    ints = [uuid.UUID(v).int for v in ids]
    random_bits = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
    ones = 0
    zeros = 0
    for value in ints:
        ones |= value
        zeros |= ~value
    assert ones & random_bits == random_bits and zeros & random_bits == random_bits
