"""Masks limited to the lower face, feathered so no seam shows, and colour matching between frames."""

from __future__ import annotations

import cv2
import numpy as np

from .landmarks import CHIN, FOREHEAD, JAW, face_height
from .render.warp import Region

# Lower face: jaw line plus the cheeks up to just under the nose.
LOWER_FACE_TOP = [132, 123, 50, 205, 206, 165, 92, 186, 57, 43, 106, 182, 83, 18, 313, 406, 335, 273, 287,
                  410, 322, 391, 426, 425, 280, 352, 361]
NOSE_BASE = [98, 97, 2, 326, 327]


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
    """Float mask in [0, 1] over `region`: 1 inside the polygon, fading out over `feather_px` outside."""
    height, width = region.y1 - region.y0, region.x1 - region.x0
    mask = np.zeros((height, width), np.uint8)
    local = np.round((polygon - [region.x0, region.y0]) * 16).astype(np.int32)
    cv2.fillPoly(mask, [cv2.convexHull(local)], 255, lineType=cv2.LINE_AA, shift=4)
    if feather_px > 0.5:
        grow = max(1, int(feather_px))
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
        blurred = cv2.GaussianBlur(mask, (0, 0), feather_px / 2.0)
        return blurred.astype(np.float32) / 255.0
    return mask.astype(np.float32) / 255.0


def blend_region(frame: np.ndarray, rendered: np.ndarray, mask: np.ndarray, region: Region) -> None:
    """frame[region] = rendered where mask is 1, unchanged where 0 (in place)."""
    target = region.slice(frame)
    alpha = mask[..., None]
    target[:] = (rendered.astype(np.float32) * alpha + target.astype(np.float32) * (1.0 - alpha) + 0.5).astype(np.uint8)


def match_colour(source: np.ndarray, reference: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Shift `source`'s colour statistics (Lab mean and spread, inside `weight`) to those of `reference`."""
    src_lab = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref_lab = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    w = weight[..., None].astype(np.float32)
    total = float(w.sum()) + 1e-6
    src_mean = (src_lab * w).sum((0, 1)) / total
    ref_mean = (ref_lab * w).sum((0, 1)) / total
    src_std = np.sqrt(((src_lab - src_mean) ** 2 * w).sum((0, 1)) / total) + 1e-3
    ref_std = np.sqrt(((ref_lab - ref_mean) ** 2 * w).sum((0, 1)) / total) + 1e-3
    scale = np.clip(ref_std / src_std, 0.7, 1.4)
    out = (src_lab - src_mean) * scale + ref_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def lower_face_mask_full(points: np.ndarray, shape: tuple[int, int], margin: float = 0.08) -> np.ndarray:
    """Boolean mask of the whole frame covering the lower face plus `margin` face heights (used by eval)."""
    height, width = shape
    polygon = lower_face_polygon(points, chin_drop=0.12 * face_height(points))
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [cv2.convexHull(np.round(polygon).astype(np.int32))], 1)
    grow = max(3, int(margin * face_height(points)) * 2 + 1)
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))).astype(bool)
