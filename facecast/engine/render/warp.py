"""Landmark-driven local warps: move a few control points, let the skin around them follow smoothly.

A dense displacement field is interpolated from the control points' displacements (normalised Gaussian
weights, evaluated on a coarse grid and upsampled), then applied with one cv2.remap over a small region.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_GRID_STEP = 4  # field resolution in pixels; the field is smooth, so a coarse grid loses nothing visible


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of the frame, clipped to it."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def around(cls, points: np.ndarray, margin: float, width: int, height: int) -> Region:
        lo = points.min(axis=0) - margin
        hi = points.max(axis=0) + margin
        return cls(max(0, int(lo[0])), max(0, int(lo[1])), min(width, int(np.ceil(hi[0]))),
                   min(height, int(np.ceil(hi[1]))))

    @property
    def empty(self) -> bool:
        return self.x1 - self.x0 < 4 or self.y1 - self.y0 < 4

    def slice(self, image: np.ndarray) -> np.ndarray:
        return image[self.y0:self.y1, self.x0:self.x1]


def displacement_field(targets: np.ndarray, moves: np.ndarray, region: Region, sigma: float) -> np.ndarray:
    """Field [h, w, 2] over `region`: at each pixel, how far the content there came from (target - source).

    targets: [n, 2] where control points end up (frame pixels); moves: [n, 2] their displacement. Points with a
    zero move pin the skin in place, which is how the warp is kept local.
    """
    height, width = region.y1 - region.y0, region.x1 - region.x0
    grid_x = np.arange(0, width + _GRID_STEP, _GRID_STEP, dtype=np.float32) + region.x0
    grid_y = np.arange(0, height + _GRID_STEP, _GRID_STEP, dtype=np.float32) + region.y0
    control = targets.astype(np.float32)
    # Exact Gaussian RBF interpolation (lightly regularised): control points land where they are told to.
    delta = control[:, None, :] - control[None, :, :]
    between = (delta * delta).sum(axis=2)
    kernel = np.exp(-between / (2.0 * sigma * sigma)) + 0.01 * np.eye(len(control), dtype=np.float32)
    # OpenCV's solver: no BLAS thread pool to wake for a 100x100 system.
    _, coefficients = cv2.solve(kernel.astype(np.float32), moves.astype(np.float32), flags=cv2.DECOMP_CHOLESKY)
    # The Gaussian is separable, exp(-(dx² + dy²)) = exp(-dx²) exp(-dy²), and the cells form a grid: two small
    # matrix products per axis of the field instead of a (cells x controls) distance matrix.
    along_x = np.exp(np.square(grid_x[:, None] - control[None, :, 0]) * (-0.5 / (sigma * sigma)))
    along_y = np.exp(np.square(grid_y[:, None] - control[None, :, 1]) * (-0.5 / (sigma * sigma)))
    field = np.stack([(along_y * coefficients[:, axis]) @ along_x.T for axis in range(2)], axis=2)
    full = cv2.resize(field, (len(grid_x) * _GRID_STEP, len(grid_y) * _GRID_STEP), interpolation=cv2.INTER_LINEAR)
    return full[:height, :width]


def apply_field(image: np.ndarray, field: np.ndarray, region: Region) -> np.ndarray:
    """The region of `image` warped by `field` (backward mapping: pixel p takes image[p - field(p)])."""
    height, width = field.shape[:2]
    # One two-channel map, built in place: cv2.remap takes (x, y) pairs as a single CV_32FC2 array.
    maps = np.negative(field, dtype=np.float32)
    maps[..., 0] += np.arange(width, dtype=np.float32) + region.x0
    maps[..., 1] += (np.arange(height, dtype=np.float32) + region.y0)[:, None]
    return cv2.remap(image, maps, None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_points(image: np.ndarray, sources: np.ndarray, targets: np.ndarray, pins: np.ndarray, region: Region,
                sigma: float) -> np.ndarray:
    """Warp `region` of `image` so that `sources` move to `targets` while `pins` stay put; returns the region."""
    control = np.concatenate([targets, pins])
    moves = np.concatenate([targets - sources, np.zeros_like(pins)])
    field = displacement_field(control, moves, region, sigma)
    return apply_field(image, field, region)
