"""Masks limited to the lower face, feathered so no seam shows, and colour matching between frames."""

from __future__ import annotations

import cv2
import numpy as np

from .landmarks import CHIN, FOREHEAD, JAW, face_height
from .render.warp import Region

_WEIGHT_STEP = 4  # blend_warped resamples weights on a grid this many pixels apart


def lower_face_polygon(points: np.ndarray, chin_drop: float = 0.0) -> np.ndarray:
    """Polygon (frame pixels) around mouth, chin and jaw, from under the nose down past the chin."""
    down = face_down(points)
    jaw = points[JAW].copy()
    # Include the skin that moves when the jaw opens: push the jaw line down by the drop.
    jaw += down[None, :] * chin_drop
    top = points[[132, 205, 36, 203, 98, 2, 327, 423, 266, 425, 361]]
    return np.concatenate([top, jaw[::-1]]).astype(np.float32)


def face_down(points: np.ndarray) -> np.ndarray:
    axis = points[CHIN] - points[FOREHEAD]
    return axis / max(float(np.linalg.norm(axis)), 1e-6)


def feathered_mask(polygon: np.ndarray, region: Region, feather_px: float) -> np.ndarray:
    """Float mask in [0, 1] over `region`: 1 inside the polygon, fading out over `feather_px` outside.

    The feather is a wide blur, so it is drawn at a quarter of the resolution and scaled up: the same look
    for a sixteenth of the work.
    """
    height, width = region.y1 - region.y0, region.x1 - region.x0
    scale = 4 if feather_px >= 8 else 1
    small = (max(1, -(-width // scale)), max(1, -(-height // scale)))
    mask = np.zeros((small[1], small[0]), np.uint8)
    local = np.round((polygon - [region.x0, region.y0]) * (16 / scale)).astype(np.int32)
    cv2.fillPoly(mask, [cv2.convexHull(local)], 255, lineType=cv2.LINE_AA, shift=4)
    if feather_px > 0.5:
        grow = max(1, int(feather_px / scale))
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, feather_px / 2.0 / scale))
    weight = np.multiply(mask, 1.0 / 255.0, dtype=np.float32)  # at the small size: one full-size pass fewer
    if scale > 1:
        weight = cv2.resize(weight, (small[0] * scale, small[1] * scale), interpolation=cv2.INTER_LINEAR)
    return weight[:height, :width]


def blend_region(frame: np.ndarray, rendered: np.ndarray, mask: np.ndarray, region: Region) -> None:
    """frame[region] = rendered where mask is 1, unchanged where 0 (in place)."""
    target = region.slice(frame)
    cv2.blendLinear(rendered, target, mask, 1.0 - mask, dst=target)  # writes through the view: no copy back


def blend_warped(frame: np.ndarray, picture: np.ndarray, weight: np.ndarray, matrix: np.ndarray) -> None:
    """Blend `picture` into `frame` in place where `weight` (float, [0, 1]) is above 0, through the 2x3
    `matrix` from picture to frame coordinates.

    The picture is resampled once, and only over the frame rectangle its weight covers: a mouth worked on at
    its own small scale costs one pass at the frame's.
    """
    x, y, width, height = cv2.boundingRect((weight > 0).view(np.uint8))
    if width == 0 or height == 0:
        return
    corners = np.array([[x, y], [x + width, y], [x, y + height], [x + width, y + height]], np.float32)
    region = Region.around(corners @ matrix[:, :2].T + matrix[:, 2], 1.0, frame.shape[1], frame.shape[0])
    if region.empty:
        return
    shifted = matrix.astype(np.float32)
    shifted[:, 2] -= (region.x0, region.y0)
    size = (region.x1 - region.x0, region.y1 - region.y0)
    rendered = cv2.warpAffine(picture, shifted, size, flags=cv2.INTER_LINEAR)  # outside: weight 0, any colour
    # The weight is smooth: resampled on a grid _WEIGHT_STEP times coarser, then scaled up (cheaper than a warp).
    coarse = (-(-size[0] // _WEIGHT_STEP), -(-size[1] // _WEIGHT_STEP))
    to_coarse = shifted.copy()
    to_coarse[:, 2] -= (_WEIGHT_STEP - 1) / 2  # a coarse pixel's centre is the centre of the fine pixels it covers
    mask = cv2.warpAffine(weight, to_coarse / _WEIGHT_STEP, coarse, flags=cv2.INTER_LINEAR)
    mask = cv2.resize(mask, (coarse[0] * _WEIGHT_STEP, coarse[1] * _WEIGHT_STEP), interpolation=cv2.INTER_LINEAR)
    blend_region(frame, rendered, mask[:size[1], :size[0]], region)


def match_colour(source: np.ndarray, reference: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Shift `source`'s per-channel colour mean and spread (inside `weight`) to those of `reference`.

    Statistics come from every third pixel and the mapping is applied as a lookup table: cheap per frame.
    """
    w = weight[::3, ::3].reshape(-1).astype(np.float32)
    total = float(w.sum())
    if total < 10:
        return source
    src = source[::3, ::3].reshape(-1, 3).astype(np.float32)
    ref = reference[::3, ::3].reshape(-1, 3).astype(np.float32)
    src_mean = (src * w[:, None]).sum(0) / total
    ref_mean = (ref * w[:, None]).sum(0) / total
    src_std = np.sqrt((((src - src_mean) ** 2) * w[:, None]).sum(0) / total) + 1e-3
    ref_std = np.sqrt((((ref - ref_mean) ** 2) * w[:, None]).sum(0) / total) + 1e-3
    gain = np.clip(ref_std / src_std, 0.8, 1.25)
    levels = np.arange(256, dtype=np.float32)[:, None]
    table = np.clip((levels - src_mean) * gain + ref_mean, 0, 255).astype(np.uint8)  # [256, 3]
    return cv2.LUT(source, table.reshape(256, 1, 3))


def lower_face_mask_full(points: np.ndarray, shape: tuple[int, int], margin: float = 0.08) -> np.ndarray:
    """Boolean mask of the whole frame covering the lower face plus `margin` face heights (used by eval)."""
    height, width = shape
    polygon = lower_face_polygon(points, chin_drop=0.12 * face_height(points))
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [cv2.convexHull(np.round(polygon).astype(np.int32))], 1)
    grow = max(3, int(margin * face_height(points)) * 2 + 1)
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))).astype(bool)
