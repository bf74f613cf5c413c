"""Config loading fails closed with the exact key path and what was expected (R-F1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from minibot.config.loader import default_config_path, load_config, with_overrides
from minibot.reasons import ConfigInvalid, ReasonCode

R_F1_SECTIONS = ("mode", "duration_ms", "binance", "queues", "risk", "strategy", "ai", "logging")


def _write(tmp: Path, doc: Any) -> Path:
    path = tmp / "nore.v1.json"
    path.write_text(json.dumps(doc))
    return path


def _shipped() -> dict[str, Any]:
    return dict(json.loads(default_config_path().read_text()))


def test_shipped_config_is_valid_and_complete() -> None:
    cfg = load_config()
    assert cfg["mode"] == "NORE" and cfg["duration_ms"] == 7 * 3600 * 1000
    for section in R_F1_SECTIONS:
        assert section in cfg
    assert cfg["binance"]["rest_base_url"].startswith("https://api.binance.com")


def test_unknown_key_names_its_path(tmp_path: Path) -> None:
    doc = _shipped()
    doc["risk"]["max_drawdwon_pct"] = 5
    with pytest.raises(ConfigInvalid) as exc:
        load_config(_write(tmp_path, doc))
    assert exc.value.reason_code == ReasonCode.CONFIG_INVALID
    assert "risk: Additional properties are not allowed ('max_drawdwon_pct'" in exc.value.detail
    assert "allowed keys" in exc.value.detail


def test_wrong_type_names_its_path_and_expectation(tmp_path: Path) -> None:
    doc = _shipped()
    doc["queues"]["segment_max_bytes"] = "big"
    with pytest.raises(ConfigInvalid) as exc:
        load_config(_write(tmp_path, doc))
    assert "queues.segment_max_bytes: 'big' is not of type 'integer'" in exc.value.detail
    assert "expected:" in exc.value.detail


def test_missing_section(tmp_path: Path) -> None:
    doc = _shipped()
    del doc["strategy"]
    with pytest.raises(ConfigInvalid, match="<root>: 'strategy' is a required property"):
        load_config(_write(tmp_path, doc))


def test_mode_must_be_nore(tmp_path: Path) -> None:
    doc = dict(_shipped(), mode="LIVE")
    with pytest.raises(ConfigInvalid, match="mode"):
        load_config(_write(tmp_path, doc))


def test_not_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "nore.v1.json"
    path.write_text('{\n  "mode": "NORE",\n  oops\n}')
    with pytest.raises(ConfigInvalid, match=r"nore.v1.json:3:3: not valid JSON"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="cannot read config file"):
        load_config(tmp_path / "absent.json")


def test_base_queues_are_required(tmp_path: Path) -> None:
    doc = _shipped()
    doc["queues"]["names"] = [q for q in doc["queues"]["names"] if q != "fills"] + ["timing"]
    doc["queues"]["names"] = list(dict.fromkeys(doc["queues"]["names"]))
    with pytest.raises(ConfigInvalid, match=r"misses the base queues \['fills'\]"):
        load_config(_write(tmp_path, doc))


def test_overrides_are_validated() -> None:
    cfg = load_config()
    assert with_overrides(cfg, {"duration_ms": 60_000})["duration_ms"] == 60_000
    with pytest.raises(ConfigInvalid, match="duration_ms"):
        with_overrides(cfg, {"duration_ms": -1})


def _symbols(n: int) -> list[str]:
    return [f"S{i:03d}USDT" for i in range(n)]


def test_up_to_200_symbols_are_accepted_and_201_refused(tmp_path: Path) -> None:
    doc = _shipped()
    doc["binance"]["symbols"] = _symbols(200)
    assert len(load_config(_write(tmp_path, doc))["binance"]["symbols"]) == 200
    doc["binance"]["symbols"] = _symbols(201)
    with pytest.raises(ConfigInvalid) as exc:
        load_config(_write(tmp_path, doc))
    assert "binance.symbols" in exc.value.detail and "too long" in exc.value.detail
