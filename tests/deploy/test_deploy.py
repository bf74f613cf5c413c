"""Staged deployment (R-D1): stage -> check -> apply round trip, tamper detection, the no-overwrite rule."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from minibot.deploy.apply import DeployRefused, apply
from minibot.deploy.check import check
from minibot.deploy.paths import StagingArea
from minibot.deploy.stage import StageRefused, stage
from minibot.ids import HEX64_RE, cmdline_hash
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.reader import decode_event
from minibot.journal.verify import verify_path


def nore(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the real `nore` in a subprocess; also return the command line it ran with (for cmdline_hash)."""
    argv = [sys.executable, "-m", "minibot", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)
    return done, " ".join(argv)


def project(tmp: Path) -> tuple[Path, Path]:
    """A source tree (the new code) and an existing target project."""
    src = tmp / "src"
    (src / "app" / "strategies").mkdir(parents=True)
    (src / "app" / "strategies" / "nore.py").write_bytes(b"RSI = 14\n")
    (src / "app" / "config.json").write_bytes(b'{"mode": "NORE"}\n')
    (src / "README_NIGHT.md").write_bytes("Nacht-Test \u2014 ok\n".encode())
    target = tmp / "project"
    (target / "app").mkdir(parents=True)
    (target / "app" / "existing.py").write_bytes(b"keep me\n")
    return src, target


def journal_events(target: Path) -> list[dict[str, Any]]:
    path = StagingArea.for_target(target).journal
    return [decode_event(line)[1] for line in path.read_bytes().splitlines(keepends=True)]


@pytest.mark.process
def test_cli_round_trip(tmp_path: Path) -> None:
    src, target = project(tmp_path)
    staged, command_line = nore("stage", "app", "README_NIGHT.md", "--target", str(target), cwd=src)
    assert staged.returncode == 0, staged.stdout + staged.stderr
    assert "OK: 3 file(s) staged" in staged.stdout
    area = StagingArea.for_target(target)
    manifest = read_critical_json(area.manifest)
    paths = [f["path"] for f in manifest["files"]]
    assert paths == ["README_NIGHT.md", "app/config.json", "app/strategies/nore.py"]
    for entry in manifest["files"]:
        data = (src / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)
        assert entry["cmdline_hash"] == cmdline_hash(command_line)
        assert isinstance(entry["created_ts"], int) and entry["created_ts"] > 1_600_000_000_000
        assert (area.files / entry["path"]).read_bytes() == data
    checked, _ = nore("deploy", "--check", "--target", str(target), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout
    assert "NEW app/strategies/nore.py" in checked.stdout
    assert not (target / "README_NIGHT.md").exists()
    applied, _ = nore("deploy", "--apply", "--target", str(target), cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for rel in paths:
        assert (target / rel).read_bytes() == (src / rel).read_bytes()
    assert (target / "app" / "existing.py").read_bytes() == b"keep me\n"
    assert not area.pending.exists()
    (archive,) = list(area.applied.iterdir())
    record = read_critical_json(archive / "applied.json")
    assert record["installed"] == paths and record["backups"] == {}
    report = verify_path(area.journal)
    assert report.ok, [str(p) for p in report.problems]
    actions = [e["payload"]["action"] for e in journal_events(target)]
    assert actions == ["STAGED"] * 3 + ["CHECKED"] * 3 + ["CHECKED"] * 3 + ["INSTALLED"] * 3
    assert all(e["source"] == "cli" and HEX64_RE.match(e["cmdline_hash"]) for e in journal_events(target))


def test_restaging_adds_and_replaces(tmp_path: Path) -> None:
    src, target = project(tmp_path)
    stage([src / "app" / "config.json"], target, root=src)
    (src / "app" / "config.json").write_bytes(b'{"mode": "NORE", "v": 2}\n')
    stage([src / "app"], target, root=src)
    entries = {e.path: e for e in check(StagingArea.for_target(target), target).manifest.files}  # type: ignore[union-attr]
    assert sorted(entries) == ["app/config.json", "app/strategies/nore.py"]
    assert entries["app/config.json"].sha256 == hashlib.sha256(b'{"mode": "NORE", "v": 2}\n').hexdigest()


def refused_codes(target: Path) -> list[tuple[str, str]]:
    """(code, path) of every problem the check finds."""
    return [(p.code.value, p.path) for p in check(StagingArea.for_target(target), target).problems]


@pytest.mark.process
def test_tampered_staged_file_is_named(tmp_path: Path) -> None:
    src, target = project(tmp_path)
    stage([src / "app"], target, root=src)
    area = StagingArea.for_target(target)
    victim = area.staged("app/strategies/nore.py")
    victim.write_bytes(b"RSI = 2\n")
    done, _ = nore("deploy", "--apply", "--target", str(target), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith(
        f"{victim}: FILE_TAMPERED sha256 {hashlib.sha256(b'RSI = 2' + bytes([10])).hexdigest()}"
    )
    assert "nothing was installed" in done.stdout
    assert not (target / "app" / "config.json").exists()
    refused = [e["payload"] for e in journal_events(target) if e["payload"]["action"] == "REFUSED"]
    assert refused == [
        {
            "action": "REFUSED",
            "path": str(victim),
            "sha256": hashlib.sha256(b"RSI = 2\n").hexdigest(),
            "reason": "FILE_TAMPERED",
            "detail": refused[0]["detail"],
        }
    ]


def test_missing_and_unlisted_files_are_named(tmp_path: Path) -> None:
    src, target = project(tmp_path)
    stage([src / "app"], target, root=src)
    area = StagingArea.for_target(target)
    area.staged("app/config.json").unlink()
    extra = area.files / "app" / "sneaky.py"
    extra.write_bytes(b"import os\n")
    assert refused_codes(target) == [
        ("FILE_MISSING", str(area.staged("app/config.json"))),
        ("FILE_UNLISTED", str(extra)),
    ]
    with pytest.raises(DeployRefused):
        apply(target)
    assert not (target / "app" / "strategies").exists()


def test_damaged_manifest_is_refused(tmp_path: Path) -> None:
    src, target = project(tmp_path)
    stage([src / "app"], target, root=src)
    area = StagingArea.for_target(target)
    raw = area.manifest.read_bytes()
    area.manifest.write_bytes(raw.replace(b'"size":9', b'"size":8'))
    problems = check(area, target).problems
    assert [(p.code.value, p.path) for p in problems] == [("MANIFEST_DAMAGED", str(area.manifest))]
    assert "NON_ATOMIC_WRITE" in problems[0].detail
    # A manifest rewritten with a valid self-hash still cannot install outside the target.
    doc = orjson.loads(raw)["data"]
    doc["files"][0]["path"] = "../outside.py"
    write_critical_json(area.manifest, doc)
    assert refused_codes(target) == [("PATH_ESCAPES_ROOT", str(area.manifest))]
    area.manifest.unlink()
    assert refused_codes(target) == [("MANIFEST_MISSING", str(area.manifest))]


@pytest.mark.process
def test_no_overwrite_unless_allowed_then_backup(tmp_path: Path) -> None:
    src, target = project(tmp_path)
    (src / "app" / "existing.py").write_bytes(b"new version\n")
    (target / "app" / "config.json").write_bytes((src / "app" / "config.json").read_bytes())
    stage([src / "app"], target, root=src)
    done, _ = nore("deploy", "--apply", "--target", str(target), cwd=tmp_path)
    assert done.returncode == 1
    existing = target / "app" / "existing.py"
    assert done.stdout.splitlines()[0].startswith(f"{existing}: TARGET_EXISTS ")
    assert existing.read_bytes() == b"keep me\n"
    assert not (target / "app" / "strategies").exists(), "a refused apply installs nothing"
    result = apply(target, allow_overwrite=True)
    assert existing.read_bytes() == b"new version\n"
    assert result.installed == ["app/existing.py", "app/strategies/nore.py"]
    assert result.unchanged == ["app/config.json"]
    backup = Path(result.backups["app/existing.py"])
    assert backup.read_bytes() == b"keep me\n"
    backed = [e["payload"] for e in journal_events(target) if e["payload"]["action"] == "BACKED_UP"]
    assert backed == [
        {
            "action": "BACKED_UP",
            "path": "app/existing.py",
            "sha256": hashlib.sha256(b"keep me\n").hexdigest(),
            "backup": str(backup),
        }
    ]
    installed = [e["payload"] for e in journal_events(target) if e["payload"]["action"] == "INSTALLED"]
    assert installed[0]["backup"] == str(backup) and installed[1]["backup"] is None


def symlink_or_skip(target: Path, link: Path) -> None:
    """Create `link` -> `target`, or skip the calling test where the OS refuses symlinks.

    Windows allows an ordinary account to create symlinks only in Developer Mode (else WinError 1314,
    "a required privilege is not held"); that is the machine's setting, not a failure of the code tested.
    """
    try:
        os.symlink(target, link)
    except (OSError, NotImplementedError) as exc:
        pytest.skip(f"this OS refuses to create symlinks here ({exc}); on Windows enable Developer Mode to run it")


def test_symlink_or_skip_skips_where_the_os_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_args: object, **_kwargs: object) -> None:
        raise OSError(22, "A required privilege is not held by the client")

    monkeypatch.setattr(os, "symlink", refused)
    with pytest.raises(pytest.skip.Exception, match="refuses to create symlinks"):
        symlink_or_skip(tmp_path / "a", tmp_path / "b")


def test_stage_refuses_a_symlink_leaving_the_root(tmp_path: Path) -> None:
    src, target = project(tmp_path)
    outside = tmp_path / "secrets.env"
    outside.write_bytes(b"API_KEY=x\n")
    link = src / "app" / "linked.env"
    symlink_or_skip(outside, link)
    with pytest.raises(StageRefused) as exc:
        stage([src / "app"], target, root=src)
    assert [(p.code.value, p.path) for p in exc.value.problems] == [("PATH_ESCAPES_ROOT", str(link))]
    assert not StagingArea.for_target(target).manifest.exists(), "a refused stage stages nothing"


def test_stage_refuses_paths_leaving_the_root(tmp_path: Path) -> None:
    src, target = project(tmp_path)
    outside = tmp_path / "secrets.env"
    outside.write_bytes(b"API_KEY=x\n")
    with pytest.raises(StageRefused) as exc:
        stage([outside], target, root=src)
    assert [(p.code.value, p.path) for p in exc.value.problems] == [("PATH_ESCAPES_ROOT", str(outside))]
    with pytest.raises(StageRefused) as exc:
        stage([src / "app" / ".." / ".." / "secrets.env"], target, root=src)
    assert exc.value.problems[0].code.value == "PATH_ESCAPES_ROOT"
    stage([src / "app"], target, root=src)
    with pytest.raises(StageRefused) as exc:
        stage([target], target, root=target)
    assert {p.code.value for p in exc.value.problems} == {"SOURCE_IN_STAGING"}
