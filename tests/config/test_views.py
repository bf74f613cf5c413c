"""Every key of the config schema is read through a typed view, with the value the shipped config gives it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

import pytest

from minibot.ai.settings import AiSettings
from minibot.config.binance import BinanceConfig
from minibot.config.loader import load_config, with_overrides
from minibot.config.views import MetricsConfig, QueuesConfig, RunSettings, SecretsConfig, WatchdogConfig
from minibot.logs import LoggingConfig
from minibot.model.config import ExecutionConfig, RiskConfig, StrategyConfig
from minibot.sectionview import SectionView

VIEWS: tuple[type[SectionView], ...] = (
    RunSettings,
    BinanceConfig,
    QueuesConfig,
    RiskConfig,
    StrategyConfig,
    ExecutionConfig,
    AiSettings,
    LoggingConfig,
    MetricsConfig,
    WatchdogConfig,
    SecretsConfig,
)


def _schema(name: str) -> dict[str, Any]:
    folder = resources.files("minibot.config").joinpath("schema")
    doc: dict[str, Any] = json.loads(folder.joinpath(name).read_text(encoding="utf-8"))
    return doc


def _schema_keys(schema: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Leaf key paths of a schema: objects with `properties` are walked, `$ref`s followed."""
    for key, sub in schema.get("properties", {}).items():
        sub = _schema(sub["$ref"]) if "$ref" in sub else sub
        if "properties" in sub:
            yield from _schema_keys(sub, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _view_values(view: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    for field in dataclasses.fields(view):
        value = getattr(view, field.name)
        if dataclasses.is_dataclass(value):
            yield from _view_values(value, f"{prefix}{field.name}.")
        else:
            yield f"{prefix}{field.name}", value


def _all_view_values(cfg: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for view_cls in VIEWS:
        prefix = f"{view_cls.SECTION}." if view_cls.SECTION else ""
        out.update(_view_values(view_cls.from_config(cfg), prefix))
    return out


def _config_value(cfg: Mapping[str, Any], path: str) -> Any:
    value: Any = cfg
    for part in path.split("."):
        value = value[part]
    return value


def test_every_schema_key_is_reachable_from_a_view_with_its_value() -> None:
    cfg = load_config()
    seen = _all_view_values(cfg)
    keys = sorted(_schema_keys(_schema("nore.v1.schema.json")))
    assert len(keys) > 100
    for key in keys:
        assert key in seen, f"{key} is read through no config view"
        expected = _config_value(cfg, key)
        got = seen[key]
        if isinstance(expected, list):
            expected = tuple(expected)
        elif isinstance(expected, dict):
            got = dict(got)
        assert got == expected, key
    assert set(seen) == set(keys)  # and a view holds nothing the schema lacks


def test_numbers_take_the_field_type_and_the_views_are_frozen() -> None:
    cfg = with_overrides(load_config(), {"watchdog": {"stop_grace_s": 20, "restart_max": 5.0}})
    wd = WatchdogConfig.from_config(cfg)
    assert type(wd.stop_grace_s) is float and type(wd.restart_max) is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        wd.restart_max = 1  # type: ignore[misc]
    queues = QueuesConfig.from_config(cfg)
    assert queues.fsync_of("fills") == "always" and queues.fsync_of("market_ticks") == "group:10ms"
    with pytest.raises(TypeError):
        queues.fsync_overrides["fills"] = "none"  # type: ignore[index]


def test_a_missing_key_is_an_error_not_a_default() -> None:
    cfg = load_config()
    section = {k: v for k, v in cfg["logging"].items() if k != "level"}
    with pytest.raises(KeyError, match="level"):
        LoggingConfig.from_config({**cfg, "logging": section})


def test_an_optional_key_takes_its_default_from_the_schema() -> None:
    cfg = load_config()
    binance = {k: v for k, v in cfg["binance"].items() if k != "depth_levels"}
    loaded = with_overrides({k: v for k, v in cfg.items() if k != "binance"}, {"binance": binance})
    assert BinanceConfig.from_config(loaded).depth_levels == 0


def test_the_numbers_a_core_echoes_keep_the_form_the_config_wrote() -> None:
    """`30` in the config stays `30` in a signal's reason and in the Decimal fee rate (issue 15: no output byte
    changes), while a plain `float` field still reads `10` as `10.0`."""
    cfg = load_config()
    strategy = StrategyConfig.from_config({"strategy": {**cfg["strategy"], "rsi_oversold": 30}})
    execution = ExecutionConfig.from_config({"execution": {**cfg["execution"], "taker_fee_bps": 10}})
    assert type(strategy.rsi_oversold) is int and type(execution.taker_fee_bps) is int
    assert (
        type(ExecutionConfig.from_config({"execution": {**cfg["execution"], "initial_cash": 10}}).initial_cash) is float
    )
