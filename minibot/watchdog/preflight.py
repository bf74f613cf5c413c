"""Preflight (R-G1): before any role starts, Binance must answer ping, time and exchangeInfo.

The raw exchangeInfo answer for the configured symbols becomes `<run>/exchange_info.json` (critical JSON):
risk_role and execution_role build their exchange filters from it, so every role trades against the same
filters for the whole run. A failure here is STOP BINANCE_UNREACHABLE before anything else has run.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minibot.clock import RunClock
from minibot.config.binance import BinanceConfig
from minibot.journal.atomic import write_critical_json
from minibot.journal.context import RunContext
from minibot.market.errors import Banned, MarketError
from minibot.market.rest import BinanceRest, RequestRecord
from minibot.reasons import NoreError, ReasonCode
from minibot.rolenames import Role
from minibot.roles.request_journal import RequestJournal
from minibot.runlayout import EXCHANGE_INFO_FILE

log = logging.getLogger("nore.supervisor.preflight")


class PreflightFailed(NoreError):
    """Binance (or the simulator) did not answer the preflight as documented: a STOP before any role."""

    reason_code = ReasonCode.BINANCE_UNREACHABLE


@dataclass(frozen=True)
class PreflightResult:
    """What the preflight measured."""

    server_time_ms: int
    latencies_ms: dict[str, float]
    symbols: list[str]


def _log_request(record: RequestRecord) -> None:
    log.info(
        "preflight GET %s%s -> %s in %.1f ms%s",
        record.path,
        f"?{record.query}" if record.query else "",
        record.status,
        record.latency_ms,
        f" ({record.error})" if record.error else "",
    )


async def _probe(
    binance: BinanceConfig, clock: RunClock, journal: RequestJournal | None
) -> tuple[PreflightResult, dict[str, Any]]:
    symbols = list(binance.symbols)
    latencies: dict[str, float] = {}

    def record(rec: RequestRecord) -> None:
        latencies[rec.path] = rec.latency_ms
        _log_request(rec)
        if journal is not None:  # every request NORE sends is in the run's request journal (R-X2 proof)
            journal.append(rec)

    rest = BinanceRest(
        binance.rest_base_url,
        binance.rest_timeout_s,
        binance.weight_limit,
        clock=clock,
        on_request=record,
    )
    async with rest:
        await rest.ping()
        server_ms = await rest.time()
        info = await rest.exchange_info(symbols)
    listed = {str(s.get("symbol")) for s in info["symbols"] if isinstance(s, dict)}
    missing = [s for s in symbols if s not in listed]
    if missing:
        raise PreflightFailed(f"exchangeInfo does not list the configured symbols {missing}")
    return PreflightResult(server_ms, latencies, symbols), info


def run_preflight(
    run_dir: Path, binance: BinanceConfig, clock: RunClock, ctx: RunContext | None = None
) -> PreflightResult:
    """ping, time, exchangeInfo?symbols=[...]; writes exchange_info.json. PreflightFailed says what failed.

    With `ctx`, the requests are journaled in `market/requests.jsonl` as the watchdog_role's.
    """
    journal = RequestJournal(ctx, Role.WATCHDOG.value) if ctx is not None else None
    try:
        result, info = asyncio.run(_probe(binance, clock, journal))
    except Banned as exc:
        raise PreflightFailed(f"{binance.rest_base_url}: {exc.detail}", ReasonCode.BINANCE_BANNED) from None
    except MarketError as exc:
        raise PreflightFailed(f"{binance.rest_base_url}: {exc.detail}") from None
    finally:
        if journal is not None:
            journal.flush()
            journal.close()
    write_critical_json(Path(run_dir) / EXCHANGE_INFO_FILE, info)
    return result
