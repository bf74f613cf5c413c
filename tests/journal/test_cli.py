"""Issue 13 defect 2: `nore journal verify` on odd paths answers with a clear line and the right exit code."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from minibot.cli import app

runner = CliRunner()


def test_verify_of_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["journal", "verify", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    assert runner.invoke(app, ["journal", "cat", str(tmp_path / "nope.jsonl")]).exit_code == 2


def test_verify_of_a_queue_not_in_the_contracts_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "queues" / "bogus_queue"
    folder.mkdir(parents=True)
    (folder / "inbox.jsonl").touch()
    for target in (folder, folder.parent):
        result = runner.invoke(app, ["journal", "verify", str(target)])
        assert result.exit_code == 1, result.output
        assert "'bogus_queue' is not declared in contracts.v1.json" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
