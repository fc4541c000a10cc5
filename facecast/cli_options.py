"""Command-line flags derived from the option dataclasses, so a flag's name, default and help are written once.

Bounds are enforced by the dataclasses themselves: a value out of range fails with the stable
`invalid_option` code and exit status 2, as any other bad input does (cli_support.run_or_exit).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional, TypeVar

import typer

from .engine.optionspec import OptionSpec, option_specs

R = TypeVar("R")
OptionValues = dict[str, Any]  # what a decorated command receives: option name -> value given (or default)
VALUES_PARAMETER = "option_values"


def flag_specs(*classes: type) -> tuple[OptionSpec, ...]:
    """The options of `classes` that the command line offers."""
    return tuple(spec for cls in classes for spec in option_specs(cls) if spec.flag)


def option_flags(*classes: type) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Give a typer command one flag per CLI option of `classes`, in place of its `option_values` parameter,
    which receives their values keyed by option name (ready for optionspec.build_options)."""
    specs = flag_specs(*classes)

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        parameters: list[inspect.Parameter] = []
        for parameter in inspect.signature(command, eval_str=True).parameters.values():
            if parameter.name == VALUES_PARAMETER:
                parameters.extend(_parameter(spec) for spec in specs)
            else:
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> R:
            values = {spec.name: kwargs.pop(spec.flag or "") for spec in specs}
            return command(**kwargs, **{VALUES_PARAMETER: values})

        wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate


def _parameter(spec: OptionSpec) -> inspect.Parameter:
    option = typer.Option(f"--{(spec.flag or '').replace('_', '-')}", help=spec.help)
    return inspect.Parameter(spec.flag or "", inspect.Parameter.KEYWORD_ONLY, default=spec.default,
                             annotation=Annotated[_cli_type(spec.type), option])


def _cli_type(kind: Any) -> Any:
    """Literal choices become plain strings (the dataclass names the allowed values when one is wrong)."""
    args = typing.get_args(kind)
    if type(None) in args:
        return Optional[_cli_type(next(arg for arg in args if arg is not type(None)))]
    return str if typing.get_origin(kind) is Literal else kind


def options_or_exit(cls: type[R], values: dict[str, Any]) -> R:
    """The options object a command's flags describe; an out-of-range value exits with one line (status 2)."""
    from .cli_support import run_or_exit
    from .engine.optionspec import build_options

    return run_or_exit(lambda: build_options(cls, values))
