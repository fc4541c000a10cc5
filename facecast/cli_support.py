"""What every `facecast` command shares: one-line errors with exit codes, the progress bar, logging, options.

The main CLI and the commands of the layers above the engine (voice, service) import these; this module
imports no command module, so the commands can register onto one app without importing each other.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer

from .engine.errors import FacecastError

T = TypeVar("T")

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def run_or_exit(work: Callable[[], T]) -> T:
    """Run `work`; a FacecastError becomes one line on stderr and exit status 2."""
    try:
        return work()
    except FacecastError as error:
        raise fail(f"{error} [{error.code}]") from None
    except KeyboardInterrupt:
        raise fail("interrupted; no output was written", EXIT_INTERRUPTED) from None


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar with ETA, one task per stage; disabled when stderr is not a terminal or -q."""
    if not enabled:
        yield lambda stage, done, total: None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description:>10}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        yield report


def run_with_progress(work: Callable[[Callable[[str, int, int], None]], T], quiet: bool) -> T:
    """Run `work(report)` under the progress bar (off with -q or when stderr is no terminal); errors as one line."""
    with progress_bar(not quiet and sys.stderr.isatty()) as report:
        return run_or_exit(lambda: work(report))


def echo_result(lines: list[str], data: dict, as_json: bool) -> None:
    """A finished command's result: `lines` for people, or `data` as JSON with --json."""
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for line in lines:
        typer.echo(line)


def setup_logging(verbose: bool) -> None:
    """INFO from every stage with -v, otherwise warnings only."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log what each stage does.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
