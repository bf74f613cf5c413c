"""RequestJournal: http_request events, one write per flush, torn tail repaired and recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.clock import RunClock
from minibot.ids import cmdline_hash
from minibot.journal.context import RunContext, scratch_queues
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.verify import verify_path
from minibot.market.rest import RequestRecord
from minibot.reasons import ContractViolation, ReasonCode
from minibot.roles.request_journal import RECOVERY, RequestJournal, journal_folder
from minibot.runlayout import REQUESTS_STEM


def context(tmp_path: Path) -> RunContext:
    clock = RunClock.start_now(10.0)
    return RunContext(tmp_path, "20260101_000000", cmdline_hash("nore run"), clock.now_ms, scratch_queues())


def record(path: str = "/api/v3/ping", status: int | None = 200, error: str | None = None) -> RequestRecord:
    return RequestRecord(1_700_000_000_000, "GET", path, "", status, 1.25, 3, error)


def test_requests_are_journaled_as_valid_http_request_events(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    journal = RequestJournal(ctx, "health_role")
    journal.append(record())
    journal.append(record("/api/v3/time", None, "ClientConnectorError: refused " + "x" * 5000))
    assert not (journal_folder(tmp_path) / f"{REQUESTS_STEM}.jsonl").exists()  # buffered until flush()
    assert journal.flush() == 2 and journal.flush() == 0
    other = RequestJournal(ctx, "market_role")  # the second writer of the same journal
    other.append(record("/api/v3/ticker/bookTicker"))
    other.close()
    journal.close()
    events = [decode_event(raw.data)[1] for raw in iter_lines(journal_folder(tmp_path), REQUESTS_STEM)]
    assert [(e["source"], e["payload"]["path"]) for e in events] == [
        ("health_role", "/api/v3/ping"),
        ("health_role", "/api/v3/time"),
        ("market_role", "/api/v3/ticker/bookTicker"),
    ]
    assert events[1]["payload"]["status"] is None and len(events[1]["payload"]["error"]) == 4000
    assert verify_path(journal_folder(tmp_path) / f"{REQUESTS_STEM}.jsonl").ok


def test_a_role_not_listed_as_producer_is_refused(tmp_path: Path) -> None:
    journal = RequestJournal(context(tmp_path), "strategy_role")
    with pytest.raises(ContractViolation) as info:
        journal.append(record())
    assert info.value.reason_code is ReasonCode.PRODUCER_NOT_ALLOWED
    journal.close()


def test_torn_tail_is_truncated_and_recorded(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    journal = RequestJournal(ctx, "market_role")
    journal.append(record())
    journal.close()
    path = journal_folder(tmp_path) / f"{REQUESTS_STEM}.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole + b"sha256:0123")  # a crash cut an append short
    journal = RequestJournal(ctx, "market_role")
    journal.append(record("/api/v3/time"))
    journal.close()
    assert verify_path(path).ok and verify_path(path).lines == 2
    (repair,) = [decode_event(raw.data)[1] for raw in iter_lines(journal_folder(tmp_path), RECOVERY[: -len(".jsonl")])]
    assert repair["type"] == "queue_recovery" and repair["payload"]["truncated_bytes"] == len(b"sha256:0123")
    assert repair["payload"]["offset"] == len(whole)
