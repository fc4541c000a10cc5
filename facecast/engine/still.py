"""A photo becomes a video: a slight head sway and a blink every few seconds, so it does not look frozen."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from .landmarks import (
    FOREHEAD, LEFT_EYE_LOWER, LEFT_EYE_UPPER, NOSE_TIP, RIGHT_EYE_LOWER, RIGHT_EYE_UPPER, face_height,
)
from .render.warp import Region, warp_points

BLINK_S = 0.18              # a blink takes this long, closing and opening
_BLINK_GAPS_S = (3.1, 4.4, 2.6, 5.2, 3.7)


def animate_still(image: np.ndarray, points: np.ndarray | None, count: int,
                  fps: float) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """`count` frames of the photo with sway and blinks, with the landmarks moved to match."""
    height, width = image.shape[:2]
    blinks = _blink_times(count / fps)
    pivot = points[NOSE_TIP] + (points[NOSE_TIP] - points[FOREHEAD]) * 1.2 if points is not None else \
        np.array([width / 2, height * 0.8])
    for index in range(count):
        t = index / fps
        angle = 0.6 * np.sin(2 * np.pi * t / 5.3) + 0.25 * np.sin(2 * np.pi * t / 2.9)   # degrees
        shift_x = 1.2 * np.sin(2 * np.pi * t / 6.1)
        shift_y = 0.6 * np.sin(2 * np.pi * t / 4.3)
        matrix = cv2.getRotationMatrix2D((float(pivot[0]), float(pivot[1])), angle, 1.0)
        matrix[:, 2] += (shift_x, shift_y)
        frame = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT101)
        if points is None:
            yield frame, None
            continue
        moved = points @ matrix[:, :2].T + matrix[:, 2]
        closure = _blink_closure(t, blinks)
        if closure > 0.02:
            frame = close_eyes(frame, moved, closure)
        yield frame, moved.astype(np.float32)


def close_eyes(frame: np.ndarray, points: np.ndarray, closure: float) -> np.ndarray:
    """Lower the upper eyelids towards the lower ones by `closure` (0 open, 1 shut)."""
    fh = face_height(points)
    out = frame.copy()
    for upper_ids, lower_ids in ((LEFT_EYE_UPPER, LEFT_EYE_LOWER), (RIGHT_EYE_UPPER, RIGHT_EYE_LOWER)):
        upper, lower = points[upper_ids], points[lower_ids]
        targets = upper + (lower - upper) * closure * 0.92
        pins = np.concatenate([lower, upper + (upper - lower) * 2.5 - [0, 0.02 * fh]])
        region = Region.around(np.concatenate([upper, lower, pins]), 0.03 * fh, frame.shape[1], frame.shape[0])
        if region.empty:
            continue
        warped = warp_points(out, upper, targets, pins, region, sigma=0.025 * fh)
        region.slice(out)[:] = warped
    return out


def _blink_times(duration_s: float) -> list[float]:
    times, t, k = [], 1.4, 0
    while t < duration_s:
        times.append(t)
        t += _BLINK_GAPS_S[k % len(_BLINK_GAPS_S)]
        k += 1
    return times


def _blink_closure(t: float, blinks: list[float]) -> float:
    for start in blinks:
        if start <= t <= start + BLINK_S:
            phase = (t - start) / BLINK_S
            return float(np.sin(np.pi * phase))
    return 0.0
