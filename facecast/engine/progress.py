"""Progress reporting and cooperative cancellation shared by every long-running engine call."""

from __future__ import annotations

import threading
from typing import Protocol

from .errors import CanceledError


class Progress(Protocol):
    """Called as work advances: `stage` names the step, `done`/`total` count its units (frames)."""

    def __call__(self, stage: str, done: int, total: int) -> None: ...


def no_progress(stage: str, done: int, total: int) -> None:
    """The default Progress: ignores every report."""


class CancelToken:
    """Set from any thread; the engine checks it between frames and raises CanceledError."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def canceled(self) -> bool:
        return self._event.is_set()

    def raise_if_canceled(self) -> None:
        if self._event.is_set():
            raise CanceledError("generation was canceled; no output was written")


NEVER_CANCELED = CancelToken()
