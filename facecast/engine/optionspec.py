"""Declaring a user-facing option once: default, bounds and help live on the dataclass field.

The CLI flags, the API request fields, the service settings and the job record are derived from these
declarations (`option_specs`), and `build_options` turns their flat values back into the option dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .errors import InvalidOptionError

SPEC_KEY = "facecast.option"
HELP_KEY = "facecast.help"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option as every surface sees it."""

    path: tuple[str, ...]          # attribute path from the root options class, e.g. ("encode", "crf")
    name: str                      # API field, job-record key and service setting; unique within a root class
    flag: str | None               # CLI flag without "--"; None when the CLI does not offer it
    api: bool                      # offered as an HTTP request field
    setting: bool                  # offered as a service setting (FACECAST_<NAME>)
    type: Any                      # the field's Python type
    default: Any
    help: str
    min: float | None
    max: float | None

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The allowed values of a Literal option (optional ones included)."""
        kind = self.type
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        return tuple(typing.get_args(kind)) if typing.get_origin(kind) is Literal else None


def option(default: Any, help: str, *, min: float | None = None, max: float | None = None,
           name: str | None = None, flag: str | None | bool = True, api: bool = False,
           setting: bool = False) -> Any:
    """A dataclass field declaring a user-facing option (`flag=True` uses its name, False hides it from the CLI)."""
    spec = {"help": help, "min": min, "max": max, "name": name, "flag": flag, "api": api, "setting": setting}
    return dataclasses.field(default=default, metadata={SPEC_KEY: spec})


def described(help: str) -> Any:
    """A required field of a result dataclass, with the help text its derived views show (API schema)."""
    return dataclasses.field(metadata={HELP_KEY: help})


def field_help(cls: type) -> dict[str, str]:
    """The help text of each `described` field of a result dataclass, in field order."""
    return {item.name: item.metadata[HELP_KEY] for item in dataclasses.fields(cls) if HELP_KEY in item.metadata}


def option_specs(cls: type, prefix: tuple[str, ...] = ()) -> tuple[OptionSpec, ...]:
    """Every declared option of `cls` and of the option classes nested in it, in field order."""
    hints = typing.get_type_hints(cls)
    found: list[OptionSpec] = []
    for item in dataclasses.fields(cls):
        kind = hints[item.name]
        if dataclasses.is_dataclass(kind):
            found.extend(option_specs(kind, (*prefix, item.name)))
            continue
        meta = item.metadata.get(SPEC_KEY)
        if meta is None:
            continue
        name = meta["name"] or item.name
        flag = name if meta["flag"] is True else (meta["flag"] or None)
        found.append(OptionSpec(path=(*prefix, item.name), name=name, flag=flag,
                                api=meta["api"], setting=meta["setting"], type=kind, default=item.default,
                                help=meta["help"], min=meta["min"], max=meta["max"]))
    return tuple(found)


def check_options(options: object) -> None:
    """Raise InvalidOptionError for a declared option of `options` (not nested ones) outside its bounds."""
    for spec in option_specs(type(options)):
        if len(spec.path) != 1:
            continue
        value = getattr(options, spec.path[0])
        if value is None:
            continue
        if spec.choices is not None and value not in spec.choices:
            raise InvalidOptionError(f"{spec.name} must be one of {', '.join(spec.choices)}, got {value!r}")
        below = spec.min is not None and value < spec.min
        if below or (spec.max is not None and value > spec.max):
            raise InvalidOptionError(f"{spec.name} must be between {_bound(spec.min)} and {_bound(spec.max)}, "
                                     f"got {value}")


def _bound(value: float | None) -> str:
    return "any" if value is None else f"{value:g}"


def build_options(cls: type[T], values: Mapping[str, Any]) -> T:
    """An options object from flat values keyed by option name; names not given keep their defaults.

    Raises:
        InvalidOptionError: a value outside its option's bounds.
    """
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[item.name]
        if dataclasses.is_dataclass(kind):
            kwargs[item.name] = build_options(kind, values)
            continue
        meta = item.metadata.get(SPEC_KEY)
        name = (meta or {}).get("name") or item.name
        if meta is not None and values.get(name) is not None:
            kwargs[item.name] = values[name]
    return cls(**kwargs)


def option_values(options: object) -> dict[str, Any]:
    """The flat values of every declared option of `options`, keyed by option name (inverse of build_options)."""
    values = {}
    for spec in option_specs(type(options)):
        value: Any = options
        for attribute in spec.path:
            value = getattr(value, attribute)
        values[spec.name] = value
    return values
