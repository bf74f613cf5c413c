"""The staging manifest: a critical JSON (own sha256) listing every staged file (R-D1).

    {"format": "nore.staging.v1", "created_ts": ms, "updated_ts": ms, "root": "...",
     "files": [{"path": "minibot/x.py", "sha256": "...", "size": 123, "created_ts": ms,
                "cmdline_hash": "...", "source": "/abs/path/minibot/x.py"}, ...]}

`path` is POSIX and relative to the target project; `created_ts` (unix ms, wall clock) and `cmdline_hash`
(sha256 of the staging command's command line) say when and by which command each file was staged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from minibot.deploy.paths import PathRefused, check_relative
from minibot.ids import HEX64_RE
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.reasons import DeployCode, NonAtomicWrite, Refusal

FORMAT = "nore.staging.v1"
_ENTRY_FIELDS = {"path": str, "sha256": str, "size": int, "created_ts": int, "cmdline_hash": str, "source": str}


class ManifestError(Refusal, ValueError):
    """The manifest is missing, damaged (NonAtomicWrite) or malformed; names the manifest and what is wrong."""

    def __init__(self, code: DeployCode, path: Path, detail: str) -> None:
        super().__init__(f"{path}: {code.value} {detail}")
        self.code = code
        self.path = path
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Entry:
    """One staged file."""

    path: str
    sha256: str
    size: int
    created_ts: int
    cmdline_hash: str
    source: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """The whole manifest; `files` sorted by path."""

    created_ts: int
    updated_ts: int
    root: str
    files: tuple[Entry, ...]

    def by_path(self) -> dict[str, Entry]:
        """Entries keyed by path."""
        return {e.path: e for e in self.files}

    def to_json(self) -> dict[str, Any]:
        """The document written to disk."""
        return {
            "format": FORMAT,
            "created_ts": self.created_ts,
            "updated_ts": self.updated_ts,
            "root": self.root,
            "files": [asdict(e) for e in sorted(self.files, key=lambda e: e.path)],
        }


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Atomically write the manifest as critical JSON."""
    write_critical_json(path, manifest.to_json())


def _entry(raw: Any, index: int, path: Path) -> Entry:
    where = f"files[{index}]"
    if not isinstance(raw, dict) or set(raw) != set(_ENTRY_FIELDS):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ManifestError(
            DeployCode.MANIFEST_INVALID, path, f"{where}: expected fields {sorted(_ENTRY_FIELDS)}, got {got}"
        )
    for name, kind in _ENTRY_FIELDS.items():
        value = raw[name]
        if type(value) is not kind:
            raise ManifestError(
                DeployCode.MANIFEST_INVALID, path, f"{where}.{name}: expected {kind.__name__}, got {value!r:.60}"
            )
    for name in ("sha256", "cmdline_hash"):
        if not HEX64_RE.match(raw[name]):
            raise ManifestError(DeployCode.MANIFEST_INVALID, path, f"{where}.{name}: expected 64 lowercase hex")
    if raw["size"] < 0 or raw["created_ts"] < 0:
        raise ManifestError(DeployCode.MANIFEST_INVALID, path, f"{where}: size and created_ts must be >= 0")
    try:
        check_relative(raw["path"])
    except PathRefused as exc:
        raise ManifestError(exc.code, path, f"{where}.path {exc.path!r} {exc.detail}") from None
    return Entry(**raw)


def parse_manifest(data: Any, path: Path) -> Manifest:
    """Check the manifest's structure: every field typed, paths safe, no path twice (also case-folded)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(DeployCode.MANIFEST_INVALID, path, f"expected an object with format {FORMAT!r}")
    for name in ("created_ts", "updated_ts"):
        if type(data.get(name)) is not int:
            raise ManifestError(DeployCode.MANIFEST_INVALID, path, f"{name}: expected an integer (unix ms)")
    if not isinstance(data.get("root"), str) or not isinstance(data.get("files"), list):
        raise ManifestError(DeployCode.MANIFEST_INVALID, path, "expected 'root' (string) and 'files' (list)")
    entries = tuple(_entry(raw, i, path) for i, raw in enumerate(data["files"]))
    seen: dict[str, str] = {}
    for entry in entries:
        # Windows file names are case-insensitive: two entries differing only in case would collide there.
        folded = entry.path.casefold()
        if folded in seen:
            raise ManifestError(
                DeployCode.PATH_DUPLICATE, path, f"{entry.path!r} is listed twice (as {seen[folded]!r})"
            )
        seen[folded] = entry.path
    return Manifest(data["created_ts"], data["updated_ts"], data["root"], entries)


def read_manifest(path: Path) -> Manifest:
    """Read and check the manifest; ManifestError names the file and the problem."""
    if not path.is_file():
        raise ManifestError(DeployCode.MANIFEST_MISSING, path, "does not exist (nothing staged?)")
    try:
        data = read_critical_json(path)
    except NonAtomicWrite as exc:
        raise ManifestError(DeployCode.MANIFEST_DAMAGED, path, f"{exc.reason_code.value}: {exc.detail}") from None
    return parse_manifest(data, path)
