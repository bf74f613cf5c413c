"""One error tree: every exception class in minibot/ derives from NoreError (two explained exceptions), and
docs/architecture.md "Errors" draws the tree exactly as the code has it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import minibot
from minibot.reasons import NoreError, Refusal

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
# Exceptions that are no error of NORE's, so they stay outside the tree, each with the reason.
EXPLAINED = {
    # Control flow inside the AI's training round: a window too small to train on is not an error; it
    # never leaves minibot/ai/engine.py.
    "minibot.ai.trainer.TrainingSkipped",
    # A private signal orjson's decoder hook raises for NaN/Infinity; decode_json_strict turns it into a
    # JournalCorrupt NON_FINITE_NUMBER at once.
    "minibot.journal.reader._NonFinite",
    # Control flow while the fast checks are compiled: a schema feature outside the translated subset means
    # that event type keeps only the JSON Schema path; it never leaves minibot/contracts/typed.py.
    "minibot.contracts.typed.Unsupported",
}


def exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in a module of minibot/ (each module imported)."""
    found = []
    for info in pkgutil.walk_packages(minibot.__path__, "minibot."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running, not defining: the package's entry points
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == info.name:
                found.append(cls)
    return found


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def tree_lines(classes: list[type[BaseException]]) -> list[str]:
    """The tree under NoreError: one line per class, indented by depth, with its module, its reason code
    (`-` for a Refusal: it stops no run) and any base outside the tree."""
    tree = [c for c in classes if issubclass(c, NoreError)]

    def parent(cls: type) -> type | None:
        return next((b for b in cls.__bases__ if issubclass(b, NoreError)), None)

    lines: list[str] = []

    def walk(cls: type[BaseException], depth: int) -> None:
        code = "-" if issubclass(cls, Refusal) else cls.reason_code.value  # type: ignore[attr-defined]
        also = [b.__name__ for b in cls.__bases__ if not issubclass(b, NoreError) and b is not Exception]
        extra = f" (also {', '.join(also)})" if also else ""
        label = f"{'  ' * depth}{cls.__name__}{extra}"
        lines.append(f"{label:<44} {cls.__module__.removeprefix('minibot.'):<22} {code}")
        for child in sorted((c for c in tree if parent(c) is cls), key=lambda c: c.__name__):
            walk(child, depth + 1)

    walk(NoreError, 0)
    return lines


def test_every_exception_class_derives_from_nore_error() -> None:
    classes = exception_classes()
    assert len(classes) > 20
    outside = sorted(_name(c) for c in classes if not issubclass(c, NoreError))
    assert outside == sorted(EXPLAINED), "an exception outside the NoreError tree must be explained here"


def test_the_docs_draw_the_error_tree_as_the_code_has_it() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Errors\n") :]
    drawn = section.split("```")[1].strip("\n").splitlines()
    expected = tree_lines(exception_classes())
    assert drawn == expected, "docs/architecture.md 'Errors' should read:\n" + "\n".join(expected)
