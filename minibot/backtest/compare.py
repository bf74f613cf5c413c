"""Comparing regenerated core outputs with the recorded ones, byte for byte (`nore replay`, both modes).

The recorded side is a role's core outputs in its output queues, in order (`is_core_output`: heartbeats,
timing events and process-level STOP entries are not core outputs, and stop_journal has several producers);
the first difference is reported as `<queue>/inbox.jsonl line K: expected <field> = <recorded>, got
<replayed>` (lines count from 1 per file).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from minibot.journal.context import RunContext
from minibot.journal.layout import INBOX
from minibot.journal.reader import decode_event, iter_lines
from minibot.journal.segments import segment_path
from minibot.roles.runner import core_output_queues, is_core_output, output_queues


@dataclass(frozen=True)
class RoleReplay:
    """One role's verdict: how many outputs matched, and the first difference (None when identical)."""

    role: str
    outputs: int
    difference: str | None


def canonical(event: Mapping[str, Any]) -> bytes:
    """The bytes compared: the envelope as compact JSON with sorted keys."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def first_field_difference(expected: Any, got: Any, path: str = "") -> str | None:
    """`field: expected X, got Y` for the first differing field (dotted path), None when equal."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in sorted(set(expected) | set(got)):
            where = f"{path}.{key}" if path else key
            if key not in got:
                return f"expected {where} = {canonical_value(expected[key])}, got no {where}"
            if key not in expected:
                return f"expected no {where}, got {where} = {canonical_value(got[key])}"
            found = first_field_difference(expected[key], got[key], where)
            if found is not None:
                return found
        return None
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        for i, (a, b) in enumerate(zip(expected, got, strict=True)):
            found = first_field_difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if canonical_value(expected) != canonical_value(got):
        return f"expected {path} = {canonical_value(expected)}, got {canonical_value(got)}"
    return None


def canonical_value(value: Any) -> str:
    """A value as it reads in the journal (JSON)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def recorded_outputs(ctx: RunContext, role: str, queue: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`<queue>/<file> line K`, event) for each of `role`'s core outputs in `queue`, in order, verified."""
    paths = ctx.queue_paths(queue)
    segment, number = -1, 0
    for raw in iter_lines(paths.folder, INBOX):
        if raw.segment != segment:
            segment, number = raw.segment, 0
        number += 1
        _, event = decode_event(raw.data, paths.contract, run_id=ctx.run_id, cmdline_hash=ctx.cmdline_hash)
        if is_core_output(event, role):
            yield f"{queue}/{segment_path(paths.folder, INBOX, segment).name} line {number}", event


class OutputComparer:
    """Compares regenerated outputs of one role, in order, with its recorded core outputs (first difference)."""

    def __init__(self, ctx: RunContext, role: str) -> None:
        self.role = role
        self.routes = output_queues(role)
        self.recorded = {queue: recorded_outputs(ctx, role, queue) for queue in core_output_queues(role)}
        self.matched = 0
        self.difference: str | None = None

    def compare(self, envelope: dict[str, Any]) -> None:
        """One regenerated output against the next recorded one of its queue."""
        if self.difference is not None:
            return
        queue = self.routes[envelope["type"]]
        where, event = next(self.recorded[queue], ("", {}))
        if not event:
            self.difference = (
                f"{queue}/{INBOX}.jsonl: replay produced {self.role}'s output {envelope['id']} "
                f"({envelope['type']}), the recorded queue has no more outputs of {self.role}"
            )
        elif canonical(event) != canonical(envelope):
            detail = first_field_difference(event, envelope) or (
                f"expected {canonical(event).decode()}, got {canonical(envelope).decode()}"
            )
            self.difference = f"{where}: {detail}"
        else:
            self.matched += 1

    def result(self) -> RoleReplay:
        """The verdict, once every regenerated output was compared: a recorded output left over differs too."""
        if self.difference is None:
            for rest in self.recorded.values():
                where, event = next(rest, ("", {}))
                if event:
                    self.difference = (
                        f"{where}: recorded output {event['id']} ({event['type']}) was not produced by replay"
                    )
                    break
        return RoleReplay(self.role, self.matched, self.difference)
