"""Preflight (R-G1): before any role starts, Binance must answer ping, time and exchangeInfo.

The raw exchangeInfo answer for the configured symbols becomes `<run>/exchange_info.json` (critical JSON):
risk_role and execution_role build their exchange filters from it, so every role trades against the same
filters for the whole run. A failure here is STOP BINANCE_UNREACHABLE before anything else has run.

`nore run` runs it in its own process (`main`, started by minibot/watchdog/preflight_child.py), so the
supervisor never loads the REST client and aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from minibot.clock import RunClock
from minibot.config.binance import BinanceConfig
from minibot.exitcodes import ExitCode
from minibot.journal.atomic import write_critical_json
from minibot.journal.context import RunContext
from minibot.journal.stop import unexpected_error_reason
from minibot.logs import LoggingConfig, configure_logging
from minibot.market.errors import Banned, MarketError
from minibot.market.rest import BinanceRest, RequestRecord
from minibot.reasons import NoreError, ReasonCode
from minibot.rolenames import Role
from minibot.roles.process import load_env
from minibot.roles.request_journal import RequestJournal
from minibot.runlayout import EXCHANGE_INFO_FILE
from minibot.watchdog.preflight_child import PreflightFailed, PreflightResult, answer_error, answer_ok

log = logging.getLogger("nore.preflight")


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


def main(argv: list[str] | None = None) -> int:
    """`python -m minibot.watchdog.preflight RUN_DIR`: the run's preflight, answered on stdout (the protocol is
    in minibot/watchdog/preflight_child.py); its log is `<logging.dir>/preflight.log`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("error: usage: python -m minibot.watchdog.preflight RUN_DIR", file=sys.stderr)
        return ExitCode.USAGE
    try:
        env = load_env(Role.WATCHDOG.value, Path(args[0]))
        configure_logging(env.run_dir, LoggingConfig.from_config(env.config), "preflight")
        result = run_preflight(env.run_dir, BinanceConfig.from_config(env.config), env.clock, env.ctx)
    except NoreError as exc:
        log.error("preflight failed: %s", exc)
        answer = answer_error(exc)
    except Exception as exc:  # the supervisor turns it into a STOP with the reason the error carries
        log.exception("preflight error")
        answer = answer_error(NoreError(f"{type(exc).__name__}: {exc}", unexpected_error_reason(exc)))
    else:
        sys.stdout.buffer.write(answer_ok(result))
        return 0
    sys.stdout.buffer.write(answer)
    return 1


if __name__ == "__main__":
    sys.exit(main())
