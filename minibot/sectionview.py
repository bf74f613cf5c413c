"""The one mapping from a validated config section to a frozen typed view: by the view's field names and types.

Every section of `nore.v1.json` is read through a view (`config/views.py`, `config/binance.py`, `logs.py`,
`model/config.py`, and `ai/settings.py` for the AI's section), each built by this mapping: code holding the
whole validated config calls `View.from_config(cfg)`, a pure core handed its section alone calls
`build_view(View, section)`. The loader has already checked the document against the schema (a view of a
section with optional keys fills them from the schema's defaults), so a view never supplies a default: a
missing key is a `KeyError` (a bug, not a user error). Values are converted to the field's type, as every
reader converted them by hand before: an `int` field takes `int(v)`, a `float` field `float(v)` (JSON `10` for
a number of seconds becomes `10.0`), a list becomes a tuple, an object a read-only mapping, a nested dataclass
is built from its sub-section the same way. A field typed `int | float` keeps the JSON number as written: the
few values a core echoes into its outputs or turns into a `Decimal` (signal reasons, fee rates, AI gate
thresholds) were always used as given, and writing `30` as `30.0` would change the bytes of those outputs.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, ClassVar, Self, TypeVar, Union, get_args, get_origin, get_type_hints

V = TypeVar("V")


_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}
# The member types of a number field kept as written (`int | float`, optionally `| None`).
_AS_GIVEN = frozenset({int, float, type(None)})


def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, resolved type) of each field of dataclass `cls` (annotations are strings under PEP 563)."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = get_type_hints(cls)
        found = _FIELDS[cls] = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
    return found


def _convert(tp: Any, value: Any) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        if _AS_GIVEN.issuperset(get_args(tp)) and type(value) in _AS_GIVEN:
            return value
        (inner,) = (a for a in get_args(tp) if a is not type(None))
        return _convert(inner, value)
    if origin is tuple:
        (item, _ellipsis) = get_args(tp)
        return tuple(_convert(item, v) for v in value)
    if origin is Mapping or origin is dict:
        _key, item = get_args(tp)
        return types.MappingProxyType({str(k): _convert(item, v) for k, v in value.items()})
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build_view(tp, value)
    if tp in (int, float, str):
        return tp(value)
    return value


def build_view(cls: type[V], section: Mapping[str, Any]) -> V:
    """An instance of dataclass `cls` with each field read from `section[field name]`, converted to its type."""
    return cls(**{name: _convert(tp, section[name]) for name, tp in _fields(cls)})


class SectionView:
    """Base of the view of one top-level config section: `SECTION` names it, `from_config` builds it."""

    __slots__ = ()
    SECTION: ClassVar[str]

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Self:
        """The view of section `SECTION` of the validated config `cfg`."""
        return build_view(cls, cfg[cls.SECTION])
