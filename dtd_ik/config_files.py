"""One way to read dtd_ik's YAML configs: a file -> a checked tree of dataclasses.

Every config (robot, solver, server, training, campaign) is a dataclass whose fields carry their
types and, where a value has a valid range or a fixed set of choices, a :func:`setting` with
those bounds. :func:`build` turns a parsed YAML mapping into that dataclass: unknown keys, values
of the wrong type, out-of-range values and malformed files are refused with one
:class:`~dtd_ik.exceptions.ConfigError` naming the dotted key (``optim.lr: must be > 0``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from dtd_ik.exceptions import ConfigError

T = TypeVar("T")

_BOUNDS = "dtd_ik.bounds"


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed contents of ``path``; ``what`` names the file in errors ("robot config").

    Raises :class:`ConfigError` when the file cannot be read or is not valid YAML.
    """
    try:
        return yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc


def setting(
    default: Any = dataclasses.MISSING,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[Any] | None = None,
    **field_kwargs: Any,
) -> Any:
    """A dataclass field with a valid range (``gt``/``ge``/``le``/``lt``) or ``choices``.

    ``x: float = setting(1e-4, gt=0)`` reads as "x defaults to 1e-4 and must be > 0".
    """
    bounds = {
        "gt": gt,
        "ge": ge,
        "le": le,
        "lt": lt,
        "choices": tuple(choices) if choices is not None else None,
    }
    metadata = {**field_kwargs.pop("metadata", {}), _BOUNDS: bounds}  # e.g. a description
    return dataclasses.field(default=default, metadata=metadata, **field_kwargs)


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """``value`` as the annotated ``kind`` (bool, int, float, str, a dataclass, tuple[X, ...],
    dict[str, X], X | None)."""
    if dataclasses.is_dataclass(kind):
        return build(kind, value, where + ".", checked=False)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or kind is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        item = args[1] if args else Any
        return {k: _coerce(v, item, f"{where}.{k}") for k, v in value.items()}
    if kind is Any:
        return value
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and not isinstance(value, bool):
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    if kind is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    name = getattr(kind, "__name__", str(kind))
    raise ConfigError(f"{where}: expected {name}, got {value!r}")


def check(obj: Any, prefix: str = "") -> None:
    """Check every field of dataclass ``obj`` (recursively) against its :func:`setting` bounds
    and finiteness; raise :class:`ConfigError` naming the first bad key."""
    for f in dataclasses.fields(obj):
        value, where = getattr(obj, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            check(value, where + ".")
            continue
        bounds = f.metadata.get(_BOUNDS)
        if bounds and value is not None:
            _check_bounds(value, bounds, where)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: must be finite, got {value!r}")


def _check_bounds(value: Any, bounds: dict, where: str) -> None:
    """ConfigError unless ``value`` is one of the choices and within the bounds (NaN is within
    none: the error names the bound it fails and that it is not finite)."""
    if bounds["choices"] is not None and value not in bounds["choices"]:
        known = ", ".join(str(c) for c in bounds["choices"])
        raise ConfigError(f"{where}: unknown value {value!r} (known: {known})")
    for op, ok in (
        ("gt", lambda v, b: v > b),
        ("ge", lambda v, b: v >= b),
        ("lt", lambda v, b: v < b),
        ("le", lambda v, b: v <= b),
    ):
        bound = bounds[op]
        if bound is not None and not ok(value, bound):
            sign = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
            finite = not isinstance(value, float) or math.isfinite(value)
            raise ConfigError(
                f"{where}: must be {sign} {bound:g}, got {value!r}"
                + ("" if finite else " (not a finite number)")
            )


def build(cls: type[T], values: Any, prefix: str = "", *, checked: bool = True) -> T:
    """The dataclass ``cls`` from a parsed YAML mapping; missing keys take their defaults.

    Unknown keys and values of the wrong type are refused; with ``checked`` the bounds too.
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in values.items():
        where = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"{where}: unknown key (known: {', '.join(known)})")
        kwargs[key] = _coerce(value, hints[key], where)
    obj = cls(**kwargs)
    if checked:
        check(obj, prefix)
    return obj


def merge_trees(base: Mapping, extra: Mapping) -> dict:
    """``base`` with ``extra`` laid over it, section by section."""
    out = dict(base)
    for k, v in extra.items():
        both = isinstance(v, Mapping) and isinstance(out.get(k), Mapping)
        out[k] = merge_trees(out[k], v) if both else v
    return out


def parse_overrides(items: Iterable[str]) -> dict:
    """``["optim.lr=1e-5", "epochs=3"]`` -> nested dict; values are read as YAML scalars."""
    tree: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        dotted, text = (s.strip() for s in item.split("=", 1))
        *sections, leaf = dotted.split(".")
        node = tree
        for k in sections:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{dotted}: {k} is not a section")
        node[leaf] = yaml.safe_load(text) if text else ""
    return tree


def load(
    cls: type[T],
    path: str | Path | None,
    what: str,
    *,
    section: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """Read ``path`` (YAML; None = defaults only), take ``section`` if given (a file without
    it is refused: likely the wrong file), lay ``overrides`` over it and :func:`build` ``cls``.
    ``what`` names the file in errors."""
    tree: Any = {}
    if path is not None:
        tree = read_yaml(path, what) or {}
        if not isinstance(tree, Mapping):
            raise ConfigError(
                f"{what} {path}: expected a mapping at the top level, got {type(tree).__name__}"
            )
        if section is not None:
            if section not in tree:
                raise ConfigError(f"{what} {path}: missing the '{section}' section")
            tree = tree[section] or {}
            if not isinstance(tree, Mapping):
                raise ConfigError(
                    f"{what} {path}: {section}: expected a mapping, got {type(tree).__name__}"
                )
    return build(cls, merge_trees(tree, overrides or {}))


__all__ = ["build", "check", "load", "merge_trees", "parse_overrides", "read_yaml", "setting"]
