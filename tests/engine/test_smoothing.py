"""The engine's own smoothing and running extremes give scipy.ndimage's results (mode="nearest")."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d

from facecast.engine.smoothing import gaussian_smooth, running_max, running_min


@pytest.mark.parametrize("length", [1, 2, 7, 300])
@pytest.mark.parametrize("sigma", [0.5, 0.9, 2.5, 6.0])
def test_gaussian_smooth_matches_scipy(length: int, sigma: float) -> None:
    values = np.random.default_rng(length).random(length).astype(np.float32)
    smoothed = gaussian_smooth(values, sigma)
    assert smoothed.dtype == np.float32
    np.testing.assert_allclose(smoothed, gaussian_filter1d(values, sigma, mode="nearest"), atol=1e-6)


def test_gaussian_smooth_along_the_first_axis_of_landmark_tracks() -> None:
    points = np.random.default_rng(1).random((40, 478, 2)).astype(np.float32) * 500
    np.testing.assert_allclose(gaussian_smooth(points, 2.5, axis=0),
                               gaussian_filter1d(points, 2.5, axis=0, mode="nearest"), rtol=1e-5)


@pytest.mark.parametrize("length", [1, 4, 61])
@pytest.mark.parametrize("size", [3, 4, 9])
def test_running_extremes_match_scipy_at_every_origin(length: int, size: int) -> None:
    values = np.random.default_rng(size).random(length)
    for origin in range(-(size // 2), (size - 1) // 2 + 1):
        np.testing.assert_array_equal(running_max(values, size, origin),
                                      maximum_filter1d(values, size, mode="nearest", origin=origin))
        np.testing.assert_array_equal(running_min(values, size, origin),
                                      minimum_filter1d(values, size, mode="nearest", origin=origin))
