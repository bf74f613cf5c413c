"""NORE can never sign a request or reach an order/account path (R-X2: NORE has no order-placing client)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from minibot.market.errors import ForbiddenRequest
from minibot.market.rest import FORBIDDEN_PARAMS, PUBLIC_PATHS, BinanceRest

from .conftest import SteppedClock

MINIBOT = Path(__file__).resolve().parents[2] / "minibot"


def _sources() -> list[Path]:
    # The simulator must recognise signed requests in order to refuse them: it is the one exception.
    return [p for p in MINIBOT.rglob("*.py") if "sim" not in p.relative_to(MINIBOT).parts]


def test_no_signing_code_anywhere_in_minibot() -> None:
    signing = re.compile(r"^\s*(import|from)\s+(hmac|nacl|cryptography|ecdsa|rsa)\b|hmac\.new|\.sign\(", re.M)
    offenders = [str(p) for p in _sources() if signing.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_signature_params_and_api_keys_appear_only_in_the_refusal_list() -> None:
    rest = MINIBOT / "market" / "rest.py"
    pattern = re.compile(r"""["'](signature|recvWindow|X-MBX-APIKEY)["']""", re.I)
    hits = [
        (str(p), line)
        for p in _sources()
        for line in p.read_text(encoding="utf-8").splitlines()
        if pattern.search(line) and not (p == rest and line.startswith("FORBIDDEN_PARAMS"))
    ]
    assert hits == []


def test_market_package_only_ever_gets() -> None:
    verbs = re.compile(r"\.(post|put|delete|patch|request)\(")
    offenders = [str(p) for p in (MINIBOT / "market").rglob("*.py") if verbs.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_allow_list_is_public_market_data() -> None:
    assert all(path.startswith("/api/v3/") for path in PUBLIC_PATHS)
    private = ("order", "account", "myTrades", "userDataStream", "openOrders", "allOrders", "sapi")
    assert not [p for p in PUBLIC_PATHS if any(word in p for word in private)]
    assert {"signature", "timestamp", "recvWindow"} <= FORBIDDEN_PARAMS


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v3/order", {"symbol": "BTCUSDT"}),
        ("/api/v3/account", {}),
        ("/sapi/v1/system/status", {}),
        ("/api/v3/ping", {"signature": "00"}),
        ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "timestamp": "1"}),
    ],
)
def test_forbidden_requests_are_refused_before_sending(path: str, params: dict[str, str]) -> None:
    async def attempt() -> BinanceRest:
        # Port 9 (discard) on loopback: if anything were sent it would fail as a transport error instead.
        rest = BinanceRest("http://127.0.0.1:9", 1.0, clock=SteppedClock())
        try:
            with pytest.raises(ForbiddenRequest) as info:
                await rest._get(path, params)
            assert info.value.reason_code == "ORDER_ENDPOINT_CALLED"
        finally:
            await rest.close()
        return rest

    rest = asyncio.run(asyncio.wait_for(attempt(), 10))
    record = rest.request_log[-1]
    assert (record.path, record.status, record.error) == (path, None, "refused")


def test_base_url_cannot_smuggle_a_path() -> None:
    for bad in (
        "https://api.binance.com/api/v3/order",
        "ftp://x",
        "https://u:p@api.binance.com",
        "http://h?x=1",
    ):
        with pytest.raises(ValueError):
            BinanceRest(bad, 1.0)
