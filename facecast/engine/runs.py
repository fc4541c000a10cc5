"""Runs of consecutive True values in a boolean series (pauses in speech, stretches of tracked frames)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def true_runs(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) of every run of True in `mask`, stop exclusive."""
    start = None
    for index in range(len(mask) + 1):
        inside = index < len(mask) and bool(mask[index])
        if inside and start is None:
            start = index
        elif not inside and start is not None:
            yield start, index
            start = None
