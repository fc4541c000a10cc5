"""One-dimensional smoothing and running extremes over time series (mouth plans, landmark tracks).

The same results as scipy.ndimage's gaussian_filter1d, maximum_filter1d and minimum_filter1d with
mode="nearest", in a few lines of numpy: importing scipy.ndimage costs about a tenth of a second, which every
`facecast generate` would pay before its first frame.
"""

from __future__ import annotations

import numpy as np

_TRUNCATE = 4.0  # the kernel reaches this many sigmas each side, as scipy's default


def gaussian_smooth(values: np.ndarray, sigma: float, axis: int = 0) -> np.ndarray:
    """Gaussian-weighted average along `axis`, the ends extended with their edge values."""
    radius = int(_TRUNCATE * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights /= weights.sum()
    moved = np.moveaxis(np.asarray(values), axis, 0)
    dtype = moved.dtype if np.issubdtype(moved.dtype, np.floating) else np.float64
    padded = np.pad(moved.astype(np.float64), [(radius, radius)] + [(0, 0)] * (moved.ndim - 1), mode="edge")
    count = len(moved)
    result = sum(weight * padded[tap:tap + count] for tap, weight in enumerate(weights))
    return np.moveaxis(np.asarray(result, dtype=dtype), 0, axis)


def running_max(values: np.ndarray, size: int, origin: int = 0) -> np.ndarray:
    """Largest value in a window of `size` around each element (shifted left by `origin`), edges extended."""
    return _running(np.maximum, values, size, origin)


def running_min(values: np.ndarray, size: int, origin: int = 0) -> np.ndarray:
    """Smallest value in a window of `size` around each element (shifted left by `origin`), edges extended."""
    return _running(np.minimum, values, size, origin)


def _running(pick: np.ufunc, values: np.ndarray, size: int, origin: int) -> np.ndarray:
    values = np.asarray(values)
    before = size // 2 + origin  # elements before the centre that the window covers
    padded = np.pad(values, (max(before, 0), max(size - 1 - before, 0)), mode="edge")
    shift = max(-before, 0)
    windows = np.lib.stride_tricks.sliding_window_view(padded, size)
    return pick.reduce(windows, axis=1)[shift:shift + len(values)]
