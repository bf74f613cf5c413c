"""R-Q3 / R-I1 at run time: ai_role's environment, an order_* event from the AI is a STOP, the gate row."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from minibot.ai.env import NUMERIC_THREADS, ai_role_environment, env_problems
from minibot.ai.isolation import loaded_forbidden_modules
from minibot.ai.isolation_gate import ai_isolation_gate, queue_refusals
from minibot.contracts.envelope import build_envelope, encode_event
from minibot.contracts.examples import EXAMPLE_PAYLOADS
from minibot.contracts.registry import registry
from minibot.exitcodes import ExitCode
from minibot.gates.base import GATES, PASS, run_gate
from minibot.ids import random_id
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.context import RunContext
from minibot.journal.layout import DEADLETTER, INBOX
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.stop import read_stop
from minibot.reasons import ContractViolation, ReasonCode
from minibot.rolenames import Role
from minibot.roles.process import fail_closed, load_env
from minibot.watchdog.launch import MALLOC_ENV
from tests.roles.airun import planted_parent_env, prepare_run

ORDER_QUEUE = "order_intents"
ORDER_TYPE = "order_intent"


@pytest.mark.process
def test_ai_role_environment_drops_secrets_and_names_the_run(tmp_path: Path) -> None:
    run = prepare_run(tmp_path)
    secrets_file = tmp_path / "keys" / "binance.json"
    configured = tmp_path / "vault" / "nore.json"
    doc = read_critical_json(run.dir / "run.json")
    doc["config"]["secrets"]["path"] = str(configured)
    write_critical_json(run.dir / "run.json", doc)
    parent = {
        **planted_parent_env(secrets_file),
        "PYTHONPATH": f"/opt/lib{os.pathsep}{configured}",
        **MALLOC_ENV,
    }

    env = ai_role_environment(parent, run.dir)

    assert {k for k in env if k.startswith("NORE_")} == {
        "NORE_ROLE",
        "NORE_RUN_DIR",
        "NORE_AI_DIR",
        "NORE_RUN_ID",
        "NORE_CMDLINE_HASH",
    }
    assert env["NORE_ROLE"] == Role.AI.value and env["NORE_AI_DIR"] == str(run.dir / "ai")
    assert env["NORE_RUN_ID"] == run.ctx.run_id and env["NORE_CMDLINE_HASH"] == run.ctx.cmdline_hash
    assert "BINANCE_API_KEY" not in env and "BINANCE_API_SECRET" not in env and "NORE_SECRETS_FILE" not in env
    assert "MY_TOOL_CONFIG" not in env  # not allow-listed, and its value names the secrets file
    assert "PYTHONPATH" not in env  # allow-listed, but its value names the configured secrets path
    assert not [v for v in env.values() if str(secrets_file) in v or str(configured) in v]
    assert env["PATH"] == parent["PATH"]
    assert {k: env[k] for k in MALLOC_ENV} == MALLOC_ENV  # ai_role's allocator runs like every role's
    assert {k: env[k] for k in NUMERIC_THREADS} == NUMERIC_THREADS
    assert env_problems(env) == []  # what the ai_isolation_gate accepts


@pytest.mark.process
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: BLAS starts no worker thread anyway")
def test_numpy_in_ai_roles_environment_runs_on_one_thread(tmp_path: Path) -> None:
    run = prepare_run(tmp_path)
    probe = "import numpy, psutil; numpy.ones((64, 64)) @ numpy.ones((64, 64)); print(psutil.Process().num_threads())"
    parent = dict(os.environ)
    for name in NUMERIC_THREADS:
        parent.pop(name, None)
    threads = {}
    for label, env in (("default", parent), ("ai_role", ai_role_environment(parent, run.dir))):
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        threads[label] = int(done.stdout)
    assert threads["ai_role"] == 1 and threads["default"] > 1, threads


def _order_from_ai(ctx: RunContext) -> dict[str, Any]:
    return build_envelope(
        type_=ORDER_TYPE,
        payload=EXAMPLE_PAYLOADS[ORDER_TYPE],
        ts=ctx.clock(),
        id_=random_id(),
        source=Role.AI.value,
        run_id=ctx.run_id,
        cmdline_hash=ctx.cmdline_hash,
    )


@pytest.mark.process
def test_an_order_event_from_the_ai_is_a_stop_and_the_deadletter_keeps_it(tmp_path: Path) -> None:
    run = prepare_run(tmp_path)
    legit = run.ctx.producer(ORDER_QUEUE, "risk_role")
    legit.publish([legit.event(ORDER_TYPE, EXAMPLE_PAYLOADS[ORDER_TYPE])])
    legit.close()
    # A misbehaving writer bypasses the producer and appends an AI-sourced order intent (a valid event in
    # itself, so only the queue contract can refuse it).
    line = encode_event(_order_from_ai(run.ctx))
    inbox = run.ctx.queue_paths(ORDER_QUEUE).folder / f"{INBOX}.jsonl"
    with inbox.open("ab") as fh:
        fh.write(line)

    consumer = run.ctx.consumer(ORDER_QUEUE, "execution_role")
    first = consumer.poll()
    assert [r.event["source"] for r in first] == ["risk_role"]  # the valid line before it still goes out
    consumer.ack()
    with pytest.raises(ContractViolation) as refused:
        consumer.poll()
    consumer.close()
    assert refused.value.reason_code is ReasonCode.PRODUCER_NOT_ALLOWED

    env = load_env("execution_role", run.dir)
    assert fail_closed(env, refused.value) == ExitCode.STOPPED  # what every role process does with it
    held = read_stop(run.dir)
    assert held["payload"]["reason_code"] == "PRODUCER_NOT_ALLOWED"
    assert "order_intents/inbox.jsonl:2" in held["payload"]["detail"]
    dead = [decode_event(r.data)[1]["payload"] for r in iter_lines(inbox.parent, DEADLETTER)]
    assert len(dead) == 1 and base64.b64decode(dead[0]["raw_b64"]) == line
    assert dead[0]["reason_code"] == "PRODUCER_NOT_ALLOWED" and dead[0]["line"] == 1


@pytest.mark.process
def test_the_ai_cannot_publish_an_order_intent(tmp_path: Path) -> None:
    run = prepare_run(tmp_path)
    producer = run.ctx.producer(ORDER_QUEUE, Role.AI.value)
    with pytest.raises(ContractViolation) as refused:
        producer.publish([producer.event(ORDER_TYPE, EXAMPLE_PAYLOADS[ORDER_TYPE])])
    producer.close()
    assert refused.value.reason_code is ReasonCode.PRODUCER_NOT_ALLOWED
    inbox = run.ctx.queue_paths(ORDER_QUEUE).folder / f"{INBOX}.jsonl"
    assert not inbox.exists() or inbox.stat().st_size == 0


def test_queue_refusals_cover_every_queue_the_ai_may_not_use(tmp_path: Path) -> None:
    reg = registry()
    produced, consumed, problems = queue_refusals(tmp_path)
    assert problems == []
    assert produced == sum(len(q.types) for q in reg.queues.values() if Role.AI.value not in q.producers)
    assert consumed == len(set(reg.queues) - reg.ai_readable_queues)


@pytest.mark.process
def test_ai_isolation_gate_is_a_passing_row_of_nore_gates(tmp_path: Path) -> None:
    (entry,) = [g for g in GATES if g[0] == "ai_isolation_gate"]
    result = run_gate(*entry, tmp_path / "gate")
    assert result.status == PASS, result.detail
    for phrase in ("environment scrubbed", "forbidden queues refused", "no forbidden imports", "no order_* type"):
        assert phrase in result.detail
    assert ai_isolation_gate(tmp_path / "again") == result.detail


@pytest.mark.process
def test_ai_role_environment_forbids_secrets_paths_resolved_by_the_caller(tmp_path: Path) -> None:
    run = prepare_run(tmp_path)
    cli_secrets = tmp_path / "from-cli" / "secrets.json"
    parent = {"PATH": "/usr/bin", "TMPDIR": str(cli_secrets.parent), "HOME": "/home/u"}
    env = ai_role_environment(parent, run.dir, secrets_paths=[cli_secrets.parent])
    assert "TMPDIR" not in env and env["HOME"] == "/home/u"


def test_a_process_with_trading_or_network_code_loaded_is_refused() -> None:
    assert loaded_forbidden_modules(["minibot.roles.ai_role", "minibot.ai.engine", "numpy", "socket"]) == []
    assert loaded_forbidden_modules(["minibot.model.portfolio", "aiohttp.client", "minibot.roles"]) == [
        "aiohttp.client",
        "minibot.model.portfolio",
    ]
