"""R-Q3 / R-I1: the AI isolation gate's own checks (import walk, order_* names, scrubbed environment).

That minibot.ai imports no trading or network code is the `ai-isolation` import contract of pyproject.toml,
proved to fail on a planted import by tests/test_import_contracts.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minibot.ai import isolation
from minibot.ai.engine import AiEngine, AiIsolationBreach
from minibot.ai.env import env_problems, scrubbed_env
from tests.core.builders import env

from .aidata import ai_cfg


def test_import_walker_resolves_relative_and_from_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "ai"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bad.py").write_text(
        "from ..execution import core\nfrom .. import risk\nimport minibot.market.rest\nfrom socket import socket\n"
        "from . import features\nfrom minibot.reasons import NoreError\n"
    )
    found = sorted(f.what for f in isolation.forbidden_imports(pkg))
    assert found == [
        "imports minibot.execution",
        "imports minibot.execution.core",
        "imports minibot.market.rest",
        "imports minibot.risk",
        "imports socket",
        "imports socket.socket",
    ]


def test_no_ai_module_names_an_order_event_type(tmp_path: Path) -> None:
    assert isolation.order_type_mentions() == []
    pkg = tmp_path / "ai"
    pkg.mkdir()
    (pkg / "leak.py").write_text('x = {"type": "order_intent"}\ny = f"order_{x}"\n')
    assert [f.what for f in isolation.order_type_mentions(pkg)] == [
        "mentions event type 'order_intent'",
        "mentions event type 'order_'",
    ]


def test_scrubbed_env_keeps_only_the_allow_list() -> None:
    parent = {
        "PATH": "/usr/bin",
        "SystemRoot": "C:\\Windows",
        "HOME": "/home/u",
        "BINANCE_API_KEY": "k",
        "MY_SECRET": "s",
        "GITHUB_TOKEN": "t",
        "DB_PASSWORD": "p",
        "NORE_SECRETS_PATH": "/etc/nore/.env",
        "AWS_ACCESS_KEY_ID": "a",
        "PYTHONPATH": "/opt/secrets-store",
        "RANDOM_VAR": "x",
    }
    env = scrubbed_env(parent, {"NORE_RUN_DIR": "/var/runs/x", "NORE_API_KEY": "nope"}, ["/opt/secrets"])
    assert env == {"PATH": "/usr/bin", "SystemRoot": "C:\\Windows", "HOME": "/home/u", "NORE_RUN_DIR": "/var/runs/x"}
    assert env_problems(env) == []
    assert env_problems({"BINANCE_API_KEY": "k", "PATH": "/opt/secrets/bin"}, ["/opt/secrets"]) == [
        "BINANCE_API_KEY: not on the allow-list",
        "PATH: value mentions a forbidden path",
    ]


def test_scrubbed_env_keeps_the_memory_benchmarks_tracing_but_not_a_secret_folder() -> None:
    # The memory bench traces ai_role too; a tracing folder inside the secrets path is still dropped.
    parent = {"NORE_TRACEMALLOC_DIR": "/tmp/trace", "NORE_TRACEMALLOC_S": "60", "PATH": "/usr/bin"}
    assert scrubbed_env(parent) == parent
    assert scrubbed_env({**parent, "NORE_TRACEMALLOC_DIR": "/opt/secrets/trace"}, None, ["/opt/secrets"]) == {
        "NORE_TRACEMALLOC_S": "60",
        "PATH": "/usr/bin",
    }


@pytest.mark.process
def test_child_started_with_scrubbed_env_sees_no_secret_and_loads_no_trading_code() -> None:
    parent = {**os.environ, "BINANCE_API_SECRET": "canary", "NORE_SECRETS_PATH": "/x/.env"}
    probe = isolation.child_probe(scrubbed_env(parent))
    assert "BINANCE_API_SECRET" not in probe["env"] and "NORE_SECRETS_PATH" not in probe["env"]
    assert env_problems({name: "" for name in probe["env"]}) == []
    assert probe["forbidden_modules"] == []


def test_contract_lets_the_ai_produce_only_recommendations() -> None:
    contracts = {
        "queues": {
            "market_ticks": {"types": ["market_tick"], "producers": ["market_role"], "consumers": ["ai_role"]},
            "order_intents": {"types": ["order_intent"], "producers": ["ai_role"], "consumers": ["ai_role"]},
        },
        "ai_readable_queues": ["market_ticks"],
    }
    assert isolation.contract_problems(contracts) == [
        "queue order_intents: ai_role may produce ['order_intent']",
        "queue order_intents: ai_role consumes it but it is not in ai_readable_queues",
    ]


@pytest.mark.process
def test_ai_isolation_gate_passes_on_this_tree() -> None:
    result = isolation.ai_isolation_gate(os.environ, secrets_path="/nonexistent/nore-secrets")
    assert result.passed, result.checks
    assert set(result.checks) == {"env_scrubbed", "no_forbidden_imports", "no_order_types", "queue_contract"}


@pytest.mark.parametrize("etype", ["order_intent", "order_result", "signal", "risk_action", "stop_journal"])
def test_engine_refuses_events_from_queues_it_may_not_read(tmp_path: Path, etype: str) -> None:
    engine = AiEngine(ai_cfg(), tmp_path / "ai", lambda _e: None)
    with pytest.raises(AiIsolationBreach):
        engine.on_event(env(etype, {"symbol": "BTCUSDT"}, 1, 0, source="risk_role"))
