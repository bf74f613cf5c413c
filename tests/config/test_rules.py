"""Issue 13 defect 1: config values that escape the run folder or break the run are refused at load (R-F1)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from minibot.config.loader import default_config_path, load_config, with_overrides
from minibot.config.rules import resolve_in_run
from minibot.reasons import ConfigInvalid


def _shipped_text() -> str:
    return default_config_path().read_text(encoding="utf-8")


def _load_bytes(tmp: Path, data: bytes) -> dict[str, Any]:
    path = tmp / "nore.v1.json"
    path.write_bytes(data)
    return load_config(path)


def _with(section: str, key: str, value: Any) -> bytes:
    doc = json.loads(_shipped_text())
    doc[section][key] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("queues", "base_dir", "../escape"),
        ("queues", "base_dir", "/tmp/anywhere"),
        ("queues", "base_dir", "q/../../x"),
        ("queues", "base_dir", "C:\\queues"),
        ("queues", "base_dir", "\\\\server\\share"),
        ("queues", "base_dir", "run.json"),
        ("logging", "dir", "../../../x"),
        ("logging", "dir", "logs/"),
        ("logging", "dir", "NUL"),
        ("logging", "dir", "logs."),
        ("ai", "dir", ".."),
    ],
)
def test_a_folder_key_outside_the_run_is_refused_naming_the_key(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    with pytest.raises(ConfigInvalid, match=rf"{section}\.{key}"):
        _load_bytes(tmp_path, _with(section, key, value))


def test_nested_relative_folders_are_fine(tmp_path: Path) -> None:
    cfg = _load_bytes(tmp_path, _with("queues", "base_dir", "data/queues"))
    assert cfg["queues"]["base_dir"] == "data/queues"
    with pytest.raises(ConfigInvalid, match=r"logging\.dir"):
        with_overrides(cfg, {"logging": {"dir": "../x"}})


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_a_symlink_leading_out_of_the_run_is_refused(tmp_path: Path) -> None:
    run_dir, outside = tmp_path / "run", tmp_path / "other_run"
    run_dir.mkdir()
    outside.mkdir()
    cfg = load_config()
    assert resolve_in_run(run_dir, cfg)["queues.base_dir"] == (run_dir / "queues").resolve()
    (run_dir / "queues").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigInvalid, match=r"queues\.base_dir: 'queues' resolves to .*outside the run folder"):
        resolve_in_run(run_dir, cfg)


@pytest.mark.parametrize(
    ("needle", "text", "key"),
    [
        ('"weight_slow_fraction": 0.8', '"weight_slow_fraction": NaN', "binance.weight_slow_fraction"),
        ('"max_drawdown_pct": 3.5', '"max_drawdown_pct": -Infinity', "risk.max_drawdown_pct"),
        ('"rest_timeout_s": 10', '"rest_timeout_s": Infinity', "binance.rest_timeout_s"),
        ('"max_error_rate": 0.05', '"max_error_rate": NaN', "metrics.max_error_rate"),
        ('"initial_cash": 10000.0', '"initial_cash": 1e400', "execution.initial_cash"),
        ("5000,\n        30000", "5000,\n        1e999", "ai.features.return_windows_ms.1"),
    ],
)
def test_non_finite_numbers_are_refused_with_the_key_path(tmp_path: Path, needle: str, text: str, key: str) -> None:
    source = _shipped_text()
    assert needle in source
    with pytest.raises(ConfigInvalid, match=rf"{key}: (nan|inf|-inf) is not a finite number"):
        _load_bytes(tmp_path, source.replace(needle, text).encode())


def test_non_finite_override_is_refused() -> None:
    with pytest.raises(ConfigInvalid, match=r"risk\.max_drawdown_pct: nan"):
        with_overrides(load_config(), {"risk": {"max_drawdown_pct": float("nan")}})


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "nested deeper than 32 levels"),
        (_shipped_text().encode("utf-16"), "UTF-16"),
        (_shipped_text().encode().replace(b'"NORE"', b'"NO\xffRE"'), r"byte \d+ \(0xff\) is not UTF-8"),
        (b"1" * 5000, "not valid JSON"),
    ],
    ids=["200000-deep", "100-deep-object", "utf16-bom", "stray-0xff", "5000-digit-integer"],
)
def test_unparseable_files_give_one_clear_line(tmp_path: Path, data: bytes, match: str) -> None:
    with pytest.raises(ConfigInvalid, match=match):
        _load_bytes(tmp_path, data)
