"""The supervisor's pure parts: durations, secrets files, line counting, checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.config.loader import load_config
from minibot.config.views import QueuesConfig
from minibot.journal.atomic import write_critical_json
from minibot.journal.context import RunContext
from minibot.reasons import ConfigInvalid, ReasonCode
from minibot.watchdog.checks import LineCounter, QueueWatch, check_critical_files, check_disk
from minibot.watchdog.options import parse_duration_ms
from minibot.watchdog.secrets import load_secrets, parse_env_file, repository_root
from tests.readspy import spy_reads

FAKE = "NORE_TEST_FAKE_KEY_0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90s", 90_000), ("10m", 600_000), ("7h", 25_200_000), ("1500", 1500), ("2500ms", 2500), ("1.5h", 5_400_000)],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "7d", "-5s", "abc", "10 m", "500ms"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(ConfigInvalid, match="--duration"):
        parse_duration_ms(text)


def test_env_file_parsing() -> None:
    text = "# comment\nexport BINANCE_API_KEY='abc123xyz'\nSECRET = \"s3cr3t-value\"\n\nPLAIN=value1\n"
    assert parse_env_file(text, "f") == {"BINANCE_API_KEY": "abc123xyz", "SECRET": "s3cr3t-value", "PLAIN": "value1"}
    with pytest.raises(ConfigInvalid, match=r"f:2: expected KEY=VALUE \(the value is not shown\)"):
        parse_env_file("A=1\nnot a line\n", "f")


def test_secrets_file_inside_the_repository_or_var_is_refused(tmp_path: Path) -> None:
    cfg = load_config()
    inside_repo = repository_root() / "some.env"
    with pytest.raises(ConfigInvalid, match="outside the repository"):
        load_secrets({**cfg, "secrets": {"path": str(inside_repo), "env_var": None}}, {}, [])
    var = tmp_path / "var"
    with pytest.raises(ConfigInvalid, match="outside the repository"):
        load_secrets(
            {**cfg, "secrets": {"path": None, "env_var": "NORE_SECRETS_FILE"}},
            {"NORE_SECRETS_FILE": str(var / "x.env")},
            [var],
        )


def test_secrets_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "outside" / "keys.env"
    path.parent.mkdir()
    path.write_text(f"BINANCE_API_SECRET={FAKE}\nSHORT=1\n", encoding="utf-8")
    cfg = {**load_config(), "secrets": {"path": None, "env_var": "NORE_SECRETS_FILE"}}
    environ = {"NORE_SECRETS_FILE": str(path), "MY_TOKEN": "token-value-42", "PATH": "/usr/bin"}
    secrets = load_secrets(cfg, environ, [tmp_path / "var"])
    # NORE_SECRETS_FILE is secret-named too: where the secrets live is hidden like the secrets themselves.
    assert secrets.values == {FAKE, "token-value-42", str(path)}
    assert secrets.path == path
    child = secrets.child_env({**environ, "OTHER": FAKE})
    assert child == {"PATH": "/usr/bin"}


def test_line_counter_is_incremental_across_chunks_and_segments(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.jsonl"
    line = b"x" * 999 + b"\n"
    inbox.write_bytes(line * 3000 + b"partial")  # ~3 MB: several read chunks, a line cut by each boundary
    counter = LineCounter(tmp_path)
    assert counter.lines() == 3000
    with inbox.open("ab") as fh:
        fh.write(b" line\n")
    assert counter.lines() == 3001
    (tmp_path / "inbox.000001.jsonl").write_bytes(line * 5)
    assert counter.lines() == 3006


def test_line_counter_reads_only_what_the_file_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A check counts every queue: a 1 MB read(n) for a few new lines churned the supervisor's C heap.
    inbox = tmp_path / "inbox.jsonl"
    inbox.write_bytes(b"x" * 99 + b"\n")
    counter = LineCounter(tmp_path)
    asked = spy_reads(monkeypatch)
    assert counter.lines() == 1
    with inbox.open("ab") as fh:
        fh.write(b"y" * 49 + b"\npart")
    assert counter.lines() == 2
    assert counter.lines() == 2
    assert asked and max(asked) <= 100


def _ctx(tmp_path: Path) -> RunContext:
    return RunContext(
        tmp_path, "20260101_000000", "a" * 64, lambda: 1_767_225_600_000, QueuesConfig.from_config(load_config())
    )


def test_consumer_lag_and_damaged_cursor(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    producer = ctx.producer("signals", "strategy_role")
    payload = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "score": 1.0,
        "confidence": 0.5,
        "horizon_ms": 1000,
        "reason": {"mode": "t"},
        "price": 1.0,
        "bid": 1.0,
        "ask": 1.0,
        "bid_qty": 1.0,
        "ask_qty": 1.0,
        "cause_id": "00000000-0000-4000-8000-000000000000",
    }
    producer.publish([producer.event("signal", payload) for _ in range(5)])
    producer.close()
    watch = QueueWatch(ctx.queues_dir, ["signals"], ["risk_role"])
    assert watch.check(max_lag=5) is None
    assert watch.check(max_lag=4) == (
        ReasonCode.CONSUMER_LAG,
        "signals: risk_role is 5 lines behind (queues.max_consumer_lag_events=4)",
    )
    consumer = ctx.consumer("signals", "risk_role")
    consumer.poll()
    consumer.ack()
    consumer.close()
    assert watch.check(max_lag=0) is None
    cursor = ctx.queue_paths("signals").cursor("risk_role")
    cursor.write_bytes(cursor.read_bytes().replace(b'"line":5', b'"line":4'))
    code, detail = watch.check(max_lag=0) or (None, "")
    assert code is ReasonCode.NON_ATOMIC_WRITE and "cursor.json" in detail


def test_critical_files_and_disk(tmp_path: Path) -> None:
    write_critical_json(tmp_path / "run.json", {"run_id": "x"})
    assert check_critical_files(tmp_path) is None
    (tmp_path / "run.json").write_text('{"sha256": "00", "data": {"run_id": "x"}}')
    code, detail = check_critical_files(tmp_path) or (None, "")
    assert code is ReasonCode.NON_ATOMIC_WRITE and "run.json" in detail
    assert check_disk(tmp_path, 0) is None
    code, detail = check_disk(tmp_path, 1 << 40) or (None, "")
    assert code is ReasonCode.DISK_LOW and "disk_min_free_mb" in detail
