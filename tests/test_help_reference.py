"""`nore --help` and every subcommand's help agree with docs/reference.md; every code and key is documented."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import typer
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.testing import CliRunner

from minibot.cli import app
from minibot.contracts.registry import registry
from minibot.exitcodes import ExitCode
from minibot.reasons import DeployCode, ReasonCode, RejectCode, VerifyCode

DOCS = Path(__file__).resolve().parents[1] / "docs"
CONFIG = Path(__file__).resolve().parents[1] / "minibot" / "config" / "nore.v1.json"
_SECTION = re.compile(r"^### `(nore(?: [a-z-]+)*)`$")
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b")
_ARGUMENT = re.compile(r"`([A-Z][A-Z_]*)(?:\.\.\.)?`")


def commands(command: Any, path: tuple[str, ...] = ("nore",)) -> Iterator[tuple[str, Any]]:
    """Every command of the CLI tree with its full name (`nore`, `nore run`, `nore journal verify`, ...)."""
    yield " ".join(path), command
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from commands(sub, (*path, name))


def cli_surface() -> dict[str, tuple[set[str], set[str]]]:
    """command name -> (options incl. short forms and --help, argument names upper-cased)."""
    root = typer.main.get_command(app)
    surface = {}
    for name, command in commands(root):
        options = {"--help"}
        arguments = set()
        for param in command.params:
            if isinstance(param, TyperOption):
                options.update(o for o in (*param.opts, *param.secondary_opts))
            elif isinstance(param, TyperArgument):
                arguments.add(str(param.name).upper())
        surface[name] = (options, arguments)
    return surface


def reference_sections() -> dict[str, tuple[set[str], set[str]]]:
    """command name -> (options, arguments) listed in the first column of its docs/reference.md table."""
    sections: dict[str, tuple[set[str], set[str]]] = {}
    current: str | None = None
    for line in (DOCS / "reference.md").read_text(encoding="utf-8").splitlines():
        heading = _SECTION.match(line)
        if heading:
            current = heading.group(1)
            sections[current] = (set(), set())
        elif line.startswith("## "):
            current = None
        elif current is not None and line.startswith("| `"):
            first = line.split("|")[1]
            sections[current][0].update(_OPTION.findall(first))
            sections[current][1].update(_ARGUMENT.findall(first))
    return sections


def test_every_command_and_option_is_in_the_reference_and_back() -> None:
    surface, documented = cli_surface(), reference_sections()
    assert sorted(documented) == sorted(surface), "commands in docs/reference.md vs the CLI"
    for name, (options, arguments) in surface.items():
        doc_options, doc_arguments = documented[name]
        assert doc_options == options, f"{name}: options documented {sorted(doc_options)}, CLI {sorted(options)}"
        assert doc_arguments == arguments, (
            f"{name}: arguments documented {sorted(doc_arguments)}, CLI {sorted(arguments)}"
        )


def test_help_output_shows_every_command_and_option() -> None:
    runner = CliRunner()
    surface = cli_surface()
    for name, (options, _) in surface.items():
        args = [*name.split()[1:], "--help"]
        done = runner.invoke(app, args, env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"}, terminal_width=200)
        assert done.exit_code == 0, f"{name} --help: {done.output}"
        for option in options:
            assert re.search(rf"(?<![\w-]){re.escape(option)}\b", done.output), f"{name} --help lacks {option}"
        if name == "nore" or name == "nore journal":
            for sub in (n for n in surface if n.startswith(name + " ") and n.count(" ") == name.count(" ") + 1):
                assert sub.split()[-1] in done.output, f"{name} --help lacks {sub}"
        # Help text is shown verbatim: a `[...]` that rich took for markup would vanish from the output.
        assert not re.search(r"[A-Za-z] \.(?:\s|$)", done.output), f"{name} --help lost text to markup: {done.output}"


def leaf_keys(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Key paths of every value of the config (objects are walked)."""
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            yield from leaf_keys(value, (*prefix, key))
        else:
            yield (*prefix, key)


def test_config_keys_event_types_and_codes_are_documented() -> None:
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    operations = (DOCS / "operations.md").read_text(encoding="utf-8")
    for path in leaf_keys(orjson.loads(CONFIG.read_bytes())):
        # A free-form map (e.g. queues.fsync_overrides: queue -> policy) is documented as one key.
        prefixes = {".".join(path[:n]) for n in range(1, len(path) + 1)}
        assert any(f"`{p}`" in reference for p in prefixes if "." in p or len(path) == 1), f"config key {path}"
    for type_ in registry().payload_validators:
        assert f"`{type_}`" in reference, f"event type {type_} not in docs/reference.md"
    for code in ReasonCode:
        assert f"`{code.value}`" in reference, f"{code.value} not in docs/reference.md"
        assert f"`{code.value}`" in operations, f"{code.value} not in docs/operations.md"
    for enum in (RejectCode, VerifyCode, DeployCode):
        for member in enum:
            assert f"`{member.value}`" in reference, f"{enum.__name__}.{member.value} not in docs/reference.md"
    for exit_code in ExitCode:
        assert f"| {exit_code.value} | `{exit_code.name}` |" in reference, (
            f"ExitCode.{exit_code.name} not in docs/reference.md"
        )
