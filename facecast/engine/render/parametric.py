"""Parametric mouth: warp the template's own lips and jaw to the planned opening, paint the mouth interior.

Used when the template's mouth hardly moves (a presenter with closed lips, a photo). The lips, chin and the
skin between them are moved by a landmark-driven warp; the gap between the inner lips gets a synthesised
interior (dark cavity, upper teeth, a hint of tongue) shaded to the face's own light.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..blend import blend_region, face_down, feathered_mask, lower_face_polygon
from ..landmarks import (
    INNER_LEFT, INNER_RIGHT, LOWER_INNER, LOWER_INNER_LIP, LOWER_OUTER, MOUTH_LEFT, MOUTH_RIGHT, UPPER_INNER,
    UPPER_INNER_LIP, UPPER_OUTER, face_height,
)
from ..motion import MouthPlan
from .warp import Region, warp_points

# Points between the lower lip and the chin, top to bottom, and how much of the jaw drop each follows.
CHIN_LINE = [(18, 0.85), (200, 0.8), (199, 0.75), (175, 0.72), (152, 0.7)]
CHIN_SIDES = [(148, 0.6), (377, 0.6), (176, 0.5), (400, 0.5), (149, 0.35), (378, 0.35), (150, 0.2), (379, 0.2),
              (83, 0.75), (313, 0.75), (182, 0.7), (406, 0.7), (201, 0.7), (421, 0.7), (194, 0.6), (418, 0.6),
              (32, 0.5), (262, 0.5), (140, 0.35), (369, 0.35), (171, 0.55), (396, 0.55)]
PINS = [1, 2, 4, 5, 98, 327, 97, 326, 129, 358, 64, 294, 50, 280, 205, 425, 187, 411, 123, 352, 147, 376,
        132, 361, 58, 288, 172, 397, 136, 365, 93, 323, 234, 454, 116, 345]
CLOSED_GAP = 0.004      # inner-lip gap of lips at rest, in face heights
UPPER_SHARE = 0.22      # of an opening, how much the upper lip rises (the rest is the jaw dropping)


class ParametricRenderer:
    """Draws the planned mouth on any frame from its landmarks alone."""

    def __init__(self, plan: MouthPlan, name: str = "parametric") -> None:
        self.plan = plan
        self.name = name  # says why when it stands in for the mouth bank

    def render(self, frame: np.ndarray, points: np.ndarray, index: int) -> np.ndarray:
        opening = float(self.plan.opening[index])
        press = float(self.plan.press[index])
        width = float(self.plan.width[index])
        return draw_mouth(frame, points, opening, width, press)


def target_lip_points(points: np.ndarray, opening: float, width: float, press: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Landmark indices and where they go for the wanted mouth; also the jaw drop in pixels."""
    fh = face_height(points)
    down = face_down(points)
    right = np.array([-down[1], down[0]])
    current_gap = float(np.dot(points[LOWER_INNER_LIP] - points[UPPER_INNER_LIP], down))
    target_gap = (CLOSED_GAP + opening * (1.0 - press)) * fh
    change = target_gap - current_gap
    centre = (points[MOUTH_LEFT] + points[MOUTH_RIGHT]) / 2
    half_width = max(float(np.linalg.norm(points[MOUTH_RIGHT] - points[MOUTH_LEFT])) / 2, 1.0)

    moved: dict[int, np.ndarray] = {}

    def lip_falloff(index: int) -> float:
        across = abs(float(np.dot(points[index] - centre, right))) / half_width
        return float(np.clip(1.0 - across**2.2, 0.12, 1.0))

    lower_drop = change * (1.0 - UPPER_SHARE)
    upper_rise = change * UPPER_SHARE
    for index in set(UPPER_INNER + UPPER_OUTER) - {MOUTH_LEFT, MOUTH_RIGHT, INNER_LEFT, INNER_RIGHT}:
        moved[index] = points[index] - down * upper_rise * lip_falloff(index)
    for index in set(LOWER_INNER + LOWER_OUTER) - {MOUTH_LEFT, MOUTH_RIGHT, INNER_LEFT, INNER_RIGHT}:
        moved[index] = points[index] + down * lower_drop * lip_falloff(index)
    jaw_drop = max(0.0, lower_drop)
    for index, share in CHIN_LINE + CHIN_SIDES:
        moved[index] = points[index] + down * lower_drop * share
    # Corners: spread or round with the vowel, come in a little as the mouth opens wide, drop with the jaw.
    squeeze = width * 0.12 * half_width - 0.15 * max(change, 0.0)
    for corner, sign in ((MOUTH_LEFT, -1.0), (MOUTH_RIGHT, 1.0), (INNER_LEFT, -1.0), (INNER_RIGHT, 1.0)):
        moved[corner] = points[corner] + right * sign * squeeze + down * lower_drop * 0.3
    indices = np.array(sorted(moved))
    return indices, np.array([moved[i] for i in indices], np.float32), jaw_drop


def draw_mouth(frame: np.ndarray, points: np.ndarray, opening: float, width: float, press: float,
               paint_below_gap: float = float("inf")) -> np.ndarray:
    """The frame with its mouth warped to `opening` (face heights over rest), `width` and `press`.

    The interior is painted only where the frame's own mouth gap is below `paint_below_gap` face heights
    (default: always); a real open mouth is stretched instead, which keeps its own teeth and tongue.
    """
    fh = face_height(points)
    height, frame_width = frame.shape[:2]
    indices, targets, jaw_drop = target_lip_points(points, opening, width, press)
    sources = points[indices]
    if float(np.abs(targets - sources).max()) < 0.3:
        return frame
    region = Region.around(np.concatenate([points[PINS], targets]), 0.06 * fh, frame_width, height)
    if region.empty:
        return frame
    warped = warp_points(frame, sources, targets, points[PINS], region, sigma=0.055 * fh)
    moved = points.copy()
    moved[indices] = targets
    if mouth_gap(points) < paint_below_gap:
        paint_interior(warped, moved, region, fh)
    mask = feathered_mask(lower_face_polygon(points, chin_drop=jaw_drop), region, feather_px=0.05 * fh)
    out = frame.copy()
    blend_region(out, warped, mask, region)
    return out


def mouth_gap(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[LOWER_INNER_LIP] - points[UPPER_INNER_LIP])) / max(face_height(points), 1.0)


def paint_interior(roi: np.ndarray, points: np.ndarray, region: Region, fh: float) -> None:
    """Fill the gap between the inner lips (points already at their targets) with a shaded mouth interior."""
    offset = np.array([region.x0, region.y0], np.float32)
    upper = points[UPPER_INNER] - offset
    lower = points[LOWER_INNER] - offset
    gap = float(np.linalg.norm(points[LOWER_INNER_LIP] - points[UPPER_INNER_LIP]))
    if gap < 1.5:
        return
    lip_colour = _lip_colour(roi, points, offset)
    skin = roi[: max(2, roi.shape[0] // 6)].reshape(-1, 3).astype(np.float32)
    light = float(np.clip(np.percentile(skin.mean(1), 75) / 190.0, 0.55, 1.1))
    # Everything below happens inside the mouth's own box, a small part of the region.
    inner = np.concatenate([upper, lower])
    x0, y0 = np.maximum(np.floor(inner.min(0)) - 4, 0).astype(int)
    x1, y1 = np.minimum(np.ceil(inner.max(0)) + 5, [roi.shape[1], roi.shape[0]]).astype(int)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    roi = roi[y0:y1, x0:x1]
    upper, lower = upper - [x0, y0], lower - [x0, y0]
    height, width = roi.shape[:2]
    shift = 4
    polygon = np.round(np.concatenate([upper, lower[::-1]]) * (1 << shift)).astype(np.int32)
    cavity_mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(cavity_mask, [polygon], 255, lineType=cv2.LINE_AA, shift=shift)
    if cavity_mask.max() == 0:
        return
    interior = np.empty((height, width, 3), np.float32)
    # Cavity: dark, warm, darker towards the back (centre) of the mouth.
    cavity = lip_colour * 0.22 + np.array([10, 4, 4], np.float32)
    interior[:] = cavity
    down = (lower[5] - upper[5]) / max(gap, 1e-3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    rel = ((xs - upper[5][0]) * down[0] + (ys - upper[5][1]) * down[1]) / max(gap, 1e-3)  # 0 at upper lip, 1 at lower
    # Tongue: a soft reddish mound in the lower part when the mouth is open enough to see it.
    tongue_weight = np.clip((rel - 0.55) / 0.35, 0, 1)[..., None] * min(1.0, gap / (0.09 * fh))
    tongue = lip_colour * 0.55 + np.array([12, 0, 0], np.float32)
    interior = interior * (1 - 0.8 * tongue_weight) + tongue * 0.8 * tongue_weight
    # Upper teeth: a light band under the upper lip, following its curve, fading towards the corners.
    teeth_height = min(0.4 * gap, 0.032 * fh)
    teeth_mask = np.zeros((height, width), np.uint8)
    corners = (upper[0] + upper[-1]) / 2
    teeth_top = upper[1:-1]
    teeth_bottom = teeth_top + down * teeth_height
    teeth_poly = np.round(np.concatenate([teeth_top, teeth_bottom[::-1]]) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(teeth_mask, [teeth_poly], 255, lineType=cv2.LINE_AA, shift=shift)
    across = np.abs((xs - corners[0]) * down[1] - (ys - corners[1]) * down[0])
    half = max(float(np.linalg.norm(upper[-1] - upper[0])) / 2, 1.0)
    teeth_fade = np.clip(1.25 - (across / half) ** 2 * 1.1, 0, 1)
    teeth_shade = np.clip(1.0 - 0.35 * np.clip(rel, 0, 1) / max(teeth_height / max(gap, 1e-3), 1e-3), 0.6, 1.0)
    teeth_colour = np.array([242, 238, 230], np.float32) * light
    teeth_alpha = (teeth_mask.astype(np.float32) / 255.0 * teeth_fade)[..., None]
    interior = interior * (1 - teeth_alpha) + teeth_colour * teeth_shade[..., None] * teeth_alpha
    # Shadow under the upper lip and at the corners keeps the teeth from looking pasted on.
    shadow = np.clip(1.0 - 0.25 * np.exp(-np.clip(rel, 0, None) * 6.0), 0.7, 1.0) * np.clip(1.15 - (across / half) ** 4 * 0.5, 0.55, 1.0)
    interior *= shadow[..., None]
    interior = cv2.GaussianBlur(interior, (0, 0), max(0.6, fh / 400.0))
    alpha = cv2.GaussianBlur(cavity_mask, (0, 0), 0.8).astype(np.float32)[..., None] / 255.0
    roi[:] = np.clip(interior * alpha + roi.astype(np.float32) * (1 - alpha), 0, 255).astype(np.uint8)


def _lip_colour(roi: np.ndarray, points: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Median colour of the lower lip (between its inner and outer contour)."""
    lip = np.concatenate([points[LOWER_OUTER], points[LOWER_INNER][::-1]]) - offset
    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(lip).astype(np.int32)], 1)
    pixels = roi[mask.astype(bool)]
    if len(pixels) < 5:
        return np.array([150, 70, 70], np.float32)
    return np.median(pixels, axis=0).astype(np.float32)
