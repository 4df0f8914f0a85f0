"""Plain command-line values (str, int, float, bool, Path, lists of them) converted without pydantic.

Typer 0.29 converts every parameter that is not a bool flag through a pydantic TypeAdapter, built on
first use: `codemill show-recipe NAME` or any `run` then pays ~0.3 s of pydantic imports for values
that are `str(value)` or `int(value)`. `plain_values(command)` gives each such parameter a converter of
its own (Typer's own path checks included); any other type keeps Typer's. It uses Typer's runtime
parameter hook (`_runtime_param`, `typer._coercion.RuntimeParam`): where a Typer lacks it, nothing
changes and Typer converts as before (`tests/flows/test_cli_startup.py` notices the seconds coming back).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

try:  # Typer's runtime-parameter API (0.29): where it is missing, Typer converts as it always did
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam, TypeDescriptor
    from typer._param_types import coerce_cli_path

    HOOK = True
except ImportError:  # pragma: no cover - an older or newer Typer
    HOOK = False

Convert = Callable[[Any, Any, Any], Any]  # (value, param, ctx) -> the converted value


def _number(kind: type[int] | type[float]) -> Convert:
    noun = "an integer" if kind is int else "a number"

    def convert(value: Any, param: Any, ctx: Any) -> Any:
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise BadParameter(f"{value!r} is not {noun}.", ctx=ctx, param=param) from None

    return convert


def _text(value: Any, param: Any, ctx: Any) -> str:
    return str(value)


def _flag(value: Any, param: Any, ctx: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise BadParameter(f"{value!r} is not a flag value.", ctx=ctx, param=param)


def _leaf(descriptor: Any, annotation: Any) -> Convert | None:
    """The converter of one plain value of this annotation, or None: Typer's (pydantic) stays."""
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.is_choice or descriptor.is_file:
        return None
    if annotation is str:
        return _text
    if annotation is bool:
        return _flag
    if annotation in (int, float):
        return None if info.min is not None or info.max is not None else _number(annotation)
    if annotation is Path and info.path_type is None:

        def path(value: Any, param: Any, ctx: Any) -> Path:
            # Typer's own checks (exists, readable, ...) on the text, then the Path
            checked = coerce_cli_path(value, info, path_type=None, param=param, ctx=ctx)
            return Path(os.fsdecode(checked))

        return path
    return None


def converter_for(descriptor: Any) -> Convert | None:
    """A converter for a parameter of a plain type or a list of one; None for anything else."""
    annotation = descriptor.annotation
    if get_origin(annotation) is not list:
        return _leaf(descriptor, annotation)
    (item,) = get_args(annotation)
    one = _leaf(descriptor, item)
    if one is None:
        return None

    def each(value: Any, param: Any, ctx: Any) -> list[Any]:
        items = value if isinstance(value, list | tuple) else [value]
        return [one(v, param, ctx) for v in items]

    return each


if HOOK:

    @dataclass(frozen=True)
    class PlainParam(RuntimeParam):
        """Typer's runtime conversion for one plain parameter, with no pydantic in it."""

        convert: Convert

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            return self.convert(value, param, ctx)


def plain_values(params: list[Any]) -> None:
    """Give each plain parameter of a command its own converter (the rest keep Typer's)."""
    if not HOOK:  # pragma: no cover - another Typer
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if not isinstance(descriptor, TypeDescriptor) or not hasattr(param, "_runtime_param"):
            continue
        convert = converter_for(descriptor)
        if convert is not None:
            info, annotation = descriptor.parameter_info, descriptor.annotation
            param._runtime_param = PlainParam(info, annotation, convert)
