"""Native libraries' set-up notes kept off the terminal: a CLI error must stay one line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Mute file descriptor 2 while mediapipe's or LiteRT's C++ side sets up: TFLite and glog print set-up
    notes there that no environment variable turns off."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        _flush_c_stdio()  # what the C++ side buffered must go to /dev/null, not to the restored stderr
        os.dup2(saved, 2)
        os.close(saved)


def _flush_c_stdio() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
