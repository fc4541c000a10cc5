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
_CORNERS = np.array([MOUTH_LEFT, MOUTH_RIGHT, INNER_LEFT, INNER_RIGHT])
_CORNER_SIDES = np.array([-1.0, 1.0, -1.0, 1.0])
_UPPER_LIP = np.array(sorted(set(UPPER_INNER + UPPER_OUTER) - set(_CORNERS.tolist())))
_LOWER_LIP_INNER = np.array(sorted(set(LOWER_INNER) - {INNER_LEFT, INNER_RIGHT}))
_LOWER_LIP_OUTER = np.array(sorted(set(LOWER_OUTER) - {MOUTH_LEFT, MOUTH_RIGHT}))
_CHIN_POINTS = np.array([index for index, _ in CHIN_LINE + CHIN_SIDES])
_CHIN_SHARES = np.array([share for _, share in CHIN_LINE + CHIN_SIDES])
ROUNDING = 0.24         # at width -1 the corners come in by this share of half the mouth width
SPREADING = 0.14        # at width +1 they go out by this share


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

    moved = points.astype(np.float32)
    touched = np.zeros(len(points), bool)

    def move(indices: np.ndarray, offsets: np.ndarray) -> None:
        moved[indices] = points[indices] + offsets
        touched[indices] = True

    def lip_falloff(indices: np.ndarray, reach: float = 1.0) -> np.ndarray:
        across = np.abs((points[indices] - centre) @ right) / (half_width * reach)
        return np.clip(1.0 - across**2.2, 0.12, 1.0)[:, None]

    lower_drop = change * (1.0 - UPPER_SHARE)
    upper_rise = change * UPPER_SHARE
    move(_UPPER_LIP, -down * upper_rise * lip_falloff(_UPPER_LIP))
    # The outer edge of the lower lip follows the jaw a little further out than its inner edge: the lip keeps
    # its volume along the sides instead of being stretched into a thin crescent.
    move(_LOWER_LIP_INNER, down * lower_drop * lip_falloff(_LOWER_LIP_INNER))
    move(_LOWER_LIP_OUTER, down * lower_drop * lip_falloff(_LOWER_LIP_OUTER, reach=1.2))
    move(_CHIN_POINTS, down * lower_drop * _CHIN_SHARES[:, None])
    # Corners: round in (o, u) or spread out (i, e) with the vowel, come in a little as the mouth opens wide,
    # drop with the jaw. Rounding moves the corners further than spreading can.
    squeeze = width * (ROUNDING if width < 0 else SPREADING) * half_width - 0.15 * max(change, 0.0)
    move(_CORNERS, right * _CORNER_SIDES[:, None] * squeeze + down * lower_drop * 0.3)
    indices = np.where(touched)[0]
    return indices, moved[indices], max(0.0, lower_drop)


def draw_mouth(frame: np.ndarray, points: np.ndarray, opening: float, width: float, press: float,
               paint_below_gap: float = float("inf")) -> np.ndarray:
    """Warps the frame's mouth to `opening` (face heights over rest), `width` and `press`, in place (only the
    lower face changes: a full-frame copy would cost more than the drawing), and returns the frame.

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
    blend_region(frame, warped, mask, region)
    return frame


def mouth_gap(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[LOWER_INNER_LIP] - points[UPPER_INNER_LIP])) / max(face_height(points), 1.0)


# Teeth and mouth interior, as shares of the inner-lip gap or of the face height (fh).
UPPER_TEETH_FH = 0.03      # visible height of the upper incisors below the lip, at most
LOWER_TEETH_FROM = 0.05    # lower teeth start to show above the lower lip at this gap (fh)
TEETH_COLOUR = np.array([236, 228, 212], np.float32)  # ivory; scaled by the face's own light


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
    light = float(np.clip(np.percentile(skin.mean(1), 75) / 190.0, 0.55, 1.0))
    # Everything below happens inside the mouth's own box, a small part of the region.
    inner = np.concatenate([upper, lower])
    x0, y0 = np.maximum(np.floor(inner.min(0)) - 4, 0).astype(int)
    x1, y1 = np.minimum(np.ceil(inner.max(0)) + 5, [roi.shape[1], roi.shape[0]]).astype(int)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    box = roi[y0:y1, x0:x1]
    upper, lower = upper - [x0, y0], lower - [x0, y0]
    cavity_mask = _fill(box.shape[:2], np.concatenate([upper, lower[::-1]]))
    if cavity_mask.max() == 0:
        return
    geometry = _MouthFrame(upper, lower, gap, box.shape[:2])
    interior = _cavity(geometry, lip_colour, fh)
    teeth_colour = TEETH_COLOUR * light
    upper_height = min(0.42 * gap, UPPER_TEETH_FH * fh)
    # Upper incisors: lit from above, darker towards the bottom edge and the back (the corners).
    upper_bottom = upper[1:-1] + geometry.down * upper_height * geometry.taper(upper[1:-1])[:, None]
    _lay_teeth(interior, geometry, _fill(box.shape[:2], np.concatenate([upper[1:-1], upper_bottom[::-1]])),
               teeth_colour, top_light=1.0, bottom_light=0.8)
    # Lower incisors at wide openings, their roots hidden behind the lower lip; a dark gap stays between.
    show_lower = float(np.clip((gap / fh - LOWER_TEETH_FROM) / 0.04, 0.0, 1.0))
    if show_lower > 0:
        middle = lower[3:-3]
        lower_top = middle - geometry.down * 0.35 * upper_height * geometry.taper(middle)[:, None] ** 2
        teeth = _fill(box.shape[:2], np.concatenate([lower_top, middle[::-1] + geometry.down * 2.0]))
        teeth = teeth.astype(np.float32) * (show_lower * np.clip(1.0 - geometry.across**2 / 0.35, 0, 1))
        _lay_teeth(interior, geometry, teeth.astype(np.uint8), teeth_colour, top_light=0.75, bottom_light=0.6)
    # Shadow just inside the lips keeps the interior from looking pasted on.
    interior *= np.clip(0.8 + 0.2 * np.minimum(geometry.rel, 1.0 - geometry.rel) * 6.0, 0.8, 1.0)[..., None]
    interior = cv2.GaussianBlur(interior, (0, 0), max(0.6, fh / 400.0))
    alpha = cv2.GaussianBlur(cavity_mask, (0, 0), 0.8).astype(np.float32)[..., None] / 255.0
    box[:] = np.clip(interior * alpha + box.astype(np.float32) * (1 - alpha), 0, 255).astype(np.uint8)


class _MouthFrame:
    """Coordinates inside the mouth box: `rel` 0 at the upper lip to 1 at the lower, `across` 0 mid to 1 corner."""

    def __init__(self, upper: np.ndarray, lower: np.ndarray, gap: float, shape: tuple[int, int]) -> None:
        self.down = (lower[5] - upper[5]) / max(gap, 1e-3)
        self.top = upper[5]
        self.middle = (upper[0] + upper[-1]) / 2
        self.half = max(float(np.linalg.norm(upper[-1] - upper[0])) / 2, 1.0)
        ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)  # float32 keeps every map below float32
        self.rel = ((xs - self.top[0]) * self.down[0] + (ys - self.top[1]) * self.down[1]) / max(gap, 1e-3)
        self.across = np.abs((xs - self.middle[0]) * self.down[1] - (ys - self.middle[1]) * self.down[0]) / self.half

    def taper(self, contour: np.ndarray) -> np.ndarray:
        """Teeth are longest in the middle and recede towards the corners (the arch turns away)."""
        across = np.abs((contour - self.middle) @ np.array([self.down[1], -self.down[0]])) / self.half
        return np.clip(1.0 - 0.65 * across**2, 0.2, 1.0)


def _fill(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    shift = 4
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * (1 << shift)).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=shift)
    return mask


def _cavity(geometry: _MouthFrame, lip_colour: np.ndarray, fh: float) -> np.ndarray:
    """The back of the mouth: dark but warm, lip-tinted near the lips, darkest at the back; a tongue below."""
    rel, across = geometry.rel, geometry.across
    back = np.array([46, 16, 18], np.float32) * 0.6 + lip_colour * 0.12
    near_lips = lip_colour * 0.4 + np.array([10, 2, 4], np.float32)
    depth = np.clip(1.0 - np.minimum(rel, 1.0 - rel) * 3.0, 0.0, 1.0) * 0.5 + np.clip(across, 0, 1) * 0.5
    interior = back + (near_lips - back) * (depth**1.5)[..., None]
    # Tongue: a soft reddish mound behind the lower teeth when the mouth is open enough to see it.
    openness = min(1.0, geometry.rel.shape[0] / (0.09 * fh))
    tongue_weight = (np.clip((rel - 0.6) / 0.3, 0, 1) * np.clip(1.0 - across**2, 0, 1))[..., None] * 0.75 * openness
    tongue = lip_colour * 0.6 + np.array([18, 4, 6], np.float32)
    return interior * (1 - tongue_weight) + tongue * tongue_weight


def _lay_teeth(interior: np.ndarray, geometry: _MouthFrame, mask: np.ndarray, colour: np.ndarray,
               top_light: float, bottom_light: float) -> None:
    """Blend a row of teeth into `interior`: a vertical light gradient, darker to the sides, faint gaps between
    the incisors so they do not read as one white bar."""
    if mask.max() == 0:
        return
    rows = np.where(mask.max(1) > 0)[0]
    # Light changes from the top of this row of teeth to its bottom, measured along the mouth's vertical.
    rel = geometry.rel
    top, bottom = float(rel[rows[0]].min()), float(rel[rows[-1]].max())
    vertical = np.clip((rel - top) / max(bottom - top, 1e-3), 0, 1)
    shade = top_light + (bottom_light - top_light) * vertical
    shade *= np.clip(1.05 - 0.55 * geometry.across**2, 0.35, 1.0)
    # Incisor edges: narrow soft dips at the midline and one tooth-width either side.
    edges = np.square(np.cos(geometry.across * np.float32(np.pi / 0.2)))  # 1 on an edge, 0.2 half-widths apart
    for _ in range(3):
        edges *= edges  # cos ** 16: narrow dips
    shade *= 1.0 - 0.12 * edges * (geometry.across < 0.5)
    alpha = (mask.astype(np.float32) / 255.0 * np.clip(1.3 - geometry.across**2, 0, 1))[..., None]
    interior[:] = interior * (1 - alpha) + colour * shade[..., None] * alpha


def _lip_colour(roi: np.ndarray, points: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Median colour of the lower lip (between its inner and outer contour)."""
    lip = np.concatenate([points[LOWER_OUTER], points[LOWER_INNER][::-1]]) - offset
    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(lip).astype(np.int32)], 1)
    pixels = roi[mask.astype(bool)]
    if len(pixels) < 5:
        return np.array([150, 70, 70], np.float32)
    return np.median(pixels, axis=0).astype(np.float32)
