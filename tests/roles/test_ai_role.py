"""ai_role as a real OS process on a prepared run: recommendations, training behind the gate, isolation,
files written, kill -9 and restart without duplicate answers, fail-closed on a forged input."""

from __future__ import annotations

import base64
import random
import re
import sys
import time
from pathlib import Path

import psutil
import pytest

from minibot.ai.env import ai_role_environment
from minibot.contracts.envelope import encode_event
from minibot.exitcodes import ExitCode
from minibot.journal.atomic import read_critical_json
from minibot.journal.layout import DEADLETTER
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.stop import read_stop
from minibot.journal.verify import verify_path
from tests.ai.aidata import ai_cfg
from tests.roles.airun import (
    AI_TEST_CFG,
    Feeder,
    Run,
    check_store,
    env_of,
    file_states,
    metrics_exist,
    model_events,
    planted_parent_env,
    prepare_run,
    recorded_ticks,
    shutdown,
    start_ai_role,
    wait_for,
)

pytestmark = pytest.mark.process

# Everything ai_role may create or change: its artifact folder, its output queue, its own cursor/acks on
# the queues it reads, its heartbeats, its log.
ALLOWED = re.compile(
    r"^(ai/.+"
    r"|queues/ai_recommendations/.+"
    r"|queues/(market_ticks|fills)/(cursor\.ai_role\.json|acks\.ai_role(\.\d{6})?\.jsonl)"
    r"|queues/health/.+"
    # the process's instance lock and its holder record (one ai_role process per run; no data), and the
    # port its doorbell listens on (minibot/journal/doorbell.py)
    r"|roles/ai_role/(instance\.(lock|json)|doorbell\.port)"
    r"|logs/ai_role.*)$"
)
# What the test's own feeder (standing in for market_role) writes.
FEEDER_FILES = {
    "queues/market_ticks/inbox.jsonl",
    "queues/market_ticks/inbox.jsonl.chain",
    "queues/market_ticks/.producer.lock",
    "queues/market_ticks/inbox.durable",  # the feeder's durable watermark (minibot/journal/watermark.py)
}
# Short feature windows: a restarted engine is warm again after a few seconds of ticks.
SHORT_FEATURES = {
    "return_windows_ms": [500, 1000, 2000, 4000],
    "volatility_window_ms": 2000,
    "rsi_window_ms": 2000,
    "flow_window_ms": 2000,
}


def _cursor_line(run: Run) -> int:
    path = run.dir / "queues" / "market_ticks" / "cursor.ai_role.json"
    return int(read_critical_json(path)["line"]) if path.exists() else 0


def _acked(run: Run, count: int) -> bool:
    return _cursor_line(run) >= count


def _causes(run: Run) -> list[str]:
    return [e["payload"]["cause_id"] for e in run.events("ai_recommendations")]


def test_ai_role_trains_gates_and_recommends_in_a_scrubbed_process(tmp_path: Path) -> None:
    run = prepare_run(tmp_path, speed=60.0)
    secrets_file = tmp_path / "secrets" / "binance.json"
    secrets_file.parent.mkdir()
    secrets_file.write_text('{"api_key": "fake"}')
    env = ai_role_environment(planted_parent_env(secrets_file), run.dir)
    ticks = recorded_ticks()
    before = file_states(run.dir)
    feeder = Feeder(run, ticks, until_ms=ticks[0]["ts"] + 300_000)  # 5 minutes of the recording, ~5 s
    feeder.start()
    proc = start_ai_role(run, env)
    wait_for("first metrics", lambda: metrics_exist(run), proc, run, 30)

    child_env = env_of(proc.pid)  # what the OS says the running child has, not what we passed
    assert not [k for k in child_env if re.search("KEY|SECRET|TOKEN|BINANCE", k, re.IGNORECASE)]
    assert not [k for k, v in child_env.items() if str(secrets_file) in v]
    assert child_env["NORE_ROLE"] == "ai_role" and child_env["NORE_RUN_ID"] == run.ctx.run_id
    if sys.platform != "win32":
        assert psutil.Process(proc.pid).nice() >= 10  # below the trading roles

    published = feeder.finish()

    def done() -> bool:
        m = run.metrics()
        return _acked(run, len(published)) and m["snapshots_activated"] >= 1 and m["recommendations"] > 0

    wait_for("all ticks, an activated snapshot and recommendations", done, proc, run, 60)
    assert shutdown(run, proc) == ExitCode.OK

    changed = sorted(p for p, st in file_states(run.dir).items() if before.get(p) != st)
    assert [p for p in changed if p not in FEEDER_FILES and not ALLOWED.match(p)] == []
    assert not (run.dir / "STOP.flag").exists()

    events = model_events(run)
    actions = [e["action"] for e in events]
    assert "TRAINED" in actions and "ACTIVATED" in actions
    activated = {e["version"] for e in events if e["action"] == "ACTIVATED"}
    complete, active = check_store(run)
    assert activated <= set(complete) and active in activated
    for version in activated:
        manifest = read_critical_json(run.ai_dir / "snapshots" / version / "manifest.json")
        assert manifest["gate"]["passed"] is True and manifest["files"]
    assert verify_path(run.ai_dir / "model_events.jsonl").ok

    recs = run.events("ai_recommendations")  # each line verified against the contract on reading
    tick_ts = {e["id"]: e["ts"] for e in run.events("market_ticks")}
    causes = [r["payload"]["cause_id"] for r in recs]
    assert recs and len(causes) == len(set(causes)) and set(causes) <= set(published)
    for rec in recs:
        assert rec["source"] == "ai_role" and rec["payload"]["gated"] is True
        assert rec["payload"]["model_version"] in activated and rec["ts"] == tick_ts[rec["payload"]["cause_id"]]

    metrics = run.metrics()
    assert metrics["recommendations"] == len(recs) and metrics["model_events_journaled"] == len(events)
    assert metrics["ticks"] == len(published) and metrics["duplicate_causes_skipped"] == 0
    states = [e["payload"]["state"] for e in run.events("health") if e["payload"]["role"] == "ai_role"]
    assert states[0] == "STARTING" and states[-1] == "STOPPING"


def test_kill_9_at_random_moments_then_restart_keeps_store_consistent_and_answers_once(tmp_path: Path) -> None:
    # Training every 2 s of run clock (33 ms real) with small shards: most kills land in a round or a write.
    run = prepare_run(tmp_path, ai=ai_cfg(AI_TEST_CFG, retrain_interval_ms=2000, shard_rows=100), speed=60.0)
    feeder = Feeder(run, recorded_ticks(), until_ms=recorded_ticks()[0]["ts"] + 420_000)
    feeder.start()
    rng = random.Random(20240808)
    kills = 0
    while kills < 4:
        proc = start_ai_role(run)
        pid = proc.pid
        wait_for(
            "a heartbeat",
            lambda: any(e["payload"].get("pid") == pid for e in run.events("health")),  # noqa: B023
            proc,
            run,
            30,
        )
        time.sleep(rng.uniform(0.3, 1.2))
        proc.kill()
        proc.wait(10)
        kills += 1
        check_store(run)  # every snapshot with a manifest verifies; active points at one or at none
    published = feeder.finish()
    proc = start_ai_role(run)
    wait_for("every tick acked", lambda: _acked(run, len(published)), proc, run, 60)
    assert shutdown(run, proc) == ExitCode.OK

    complete, _ = check_store(run)
    assert complete, "rounds every 2 s of run clock should have written snapshots"
    causes = _causes(run)
    assert causes and len(causes) == len(set(causes)) and set(causes) <= set(published)
    assert verify_path(run.ai_dir / "model_events.jsonl").ok
    assert verify_path(run.dir / "queues" / "ai_recommendations").ok
    assert not (run.dir / "STOP.flag").exists()


def test_restart_after_crash_before_ack_does_not_answer_a_cause_twice(tmp_path: Path) -> None:
    ai = ai_cfg(AI_TEST_CFG, recommend_interval_ms=1, features=SHORT_FEATURES)
    run = prepare_run(tmp_path, ai=ai, speed=120.0)
    ticks = recorded_ticks()
    first = [t for t in ticks if t["ts"] <= ticks[0]["ts"] + 240_000]
    second = ticks[len(first) : len(first) + 600]  # within one consumer batch, as after a real crash
    feeder = Feeder(run, first)
    feeder.start()
    proc = start_ai_role(run)
    n_first = len(feeder.finish())
    wait_for("an active model", lambda: _acked(run, n_first) and run.metrics()["active_version"], proc, run, 60)
    assert shutdown(run, proc) == ExitCode.OK

    # The state a kill between "recommendations published" and "inputs acked" leaves behind: ai_role's
    # cursor and acks from before the batch, its recommendations for the batch already in the queue.
    queue_dir = run.dir / "queues" / "market_ticks"
    saved = {p.name: p.read_bytes() for p in queue_dir.glob("*.ai_role*")}
    producer = run.ctx.producer("market_ticks", "market_role")
    producer.publish([producer.event("market_tick", t["payload"], ts=t["ts"]) for t in second])
    producer.close()
    total = n_first + len(second)
    proc = start_ai_role(run)
    wait_for("the batch acked", lambda: _acked(run, total), proc, run, 60)
    assert shutdown(run, proc) == ExitCode.OK
    answered = _causes(run)
    batch_ids = {e["id"] for e in run.events("market_ticks")[n_first:]}
    answered_in_batch = [c for c in answered if c in batch_ids]
    assert answered_in_batch, "the batch should have produced recommendations"
    for p in queue_dir.glob("*.ai_role*"):
        p.unlink()
    for name, data in saved.items():
        (queue_dir / name).write_bytes(data)

    proc = start_ai_role(run)  # gets the whole batch again
    wait_for("the re-delivered batch acked", lambda: _acked(run, total), proc, run, 60)
    assert shutdown(run, proc) == ExitCode.OK
    assert _causes(run) == answered
    assert run.metrics()["duplicate_causes_skipped"] == len(answered_in_batch)


def test_a_forged_tick_stops_the_run_with_its_reason_and_keeps_the_line(tmp_path: Path) -> None:
    run = prepare_run(tmp_path)
    proc = start_ai_role(run)
    wait_for("first metrics", lambda: metrics_exist(run), proc, run, 30)
    tick = recorded_ticks()[0]
    forged = run.ctx.producer("market_ticks", "market_role").event("market_tick", tick["payload"], ts=tick["ts"])
    forged["source"] = "strategy_role"  # not a producer of market_ticks
    line = encode_event(forged)  # valid as an event, so only the queue contract can refuse it
    inbox = run.dir / "queues" / "market_ticks" / "inbox.jsonl"
    with inbox.open("ab") as fh:
        fh.write(line)
    assert proc.wait(30) == ExitCode.STOPPED
    held = read_stop(run.dir)
    assert held["payload"]["reason_code"] == "PRODUCER_NOT_ALLOWED" and held["source"] == "ai_role"
    dead = [decode_event(r.data)[1]["payload"] for r in iter_lines(inbox.parent, DEADLETTER)]
    assert [base64.b64decode(d["raw_b64"]) for d in dead] == [line]
    assert not (run.dir / "queues" / "ai_recommendations" / "inbox.jsonl").exists()
