"""Masks limited to the lower face, feathered so no seam shows, and colour matching between frames."""

from __future__ import annotations

import cv2
import numpy as np

from .landmarks import CHIN, FOREHEAD, JAW, face_height
from .render.warp import Region

_UPSCALE_IN_WARP = 2.0  # blend_warped's rotation step upsamples at most this much; a resize does the rest
_TRANSPARENT = (0, 0, 0, 255)  # blend_warped's layers beyond the picture: no colour, the frame shows whole


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
    """frame[region] = rendered where mask is 1, unchanged where 0 (in place).

    The weight is rounded to 1/256 steps and the blend done in 8-bit arithmetic: three times faster than a
    float blend at the same look (at most one level apart), and exact where the mask is 0 or 1.
    """
    _blend_alpha(region.slice(frame), rendered, _alpha(mask))


def _alpha(weight: np.ndarray) -> np.ndarray:
    """A [0, 1] float weight as 8-bit alpha: 1 is 255 and weights under 1/256 are 0, so the feather's far
    edge leaves pixels exactly as they were, as a float blend would after rounding."""
    return cv2.addWeighted(weight, 256.0, weight, 0.0, -1.0, dtype=cv2.CV_8U)  # rounds, saturates at 0 and 255


def _blend_alpha(target: np.ndarray, rendered: np.ndarray, alpha: np.ndarray) -> None:
    """target = rendered * alpha/255 + target * (1 - alpha/255), in place; alpha is uint8, one channel."""
    alpha3 = cv2.merge([alpha, alpha, alpha])
    inside = cv2.multiply(rendered, alpha3, scale=1.0 / 255.0)
    cv2.multiply(target, cv2.bitwise_not(alpha3), dst=target, scale=1.0 / 255.0)  # writes through the view
    cv2.add(target, inside, dst=target)


def blend_warped(frame: np.ndarray, picture: np.ndarray, weight: np.ndarray, matrix: np.ndarray) -> None:
    """Blend `picture` into `frame` in place where `weight` (float, [0, 1]) is above 0, through the 2x3
    similarity `matrix` from picture to frame coordinates.

    Picture and weight travel as one four-channel image, resampled only over the frame rectangle the weight
    covers: the picture premultiplied by its weight, and the share of the frame that shows through. At frame
    size the blend is then one multiply and one add, and the feather's edge is resampled without the dark
    fringe that straight colour picks up from pixels of weight 0. A large upscale (a mouth worked on at its
    own small scale, pasted on a big face) is done as a rotation at twice the picture's scale followed by a
    plain resize: a third of the cost of one big warp.
    """
    x, y, width, height = cv2.boundingRect((weight > 0).view(np.uint8))
    if width == 0 or height == 0:
        return
    corners = np.array([[x, y], [x + width, y], [x, y + height], [x + width, y + height]], np.float32)
    region = Region.around(corners @ matrix[:, :2].T + matrix[:, 2], 1.0, frame.shape[1], frame.shape[0])
    if region.empty:
        return
    alpha = _alpha(weight)
    premultiplied = cv2.multiply(picture, cv2.merge([alpha, alpha, alpha]), scale=1.0 / 255.0)
    layers = cv2.merge([*cv2.split(premultiplied), cv2.bitwise_not(alpha)])  # outside it: nothing, all frame
    size = (region.x1 - region.x0, region.y1 - region.y0)
    upscale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2].astype(np.float64)))))
    step = upscale / _UPSCALE_IN_WARP  # frame pixels per pixel of the rotated intermediate
    if step > 1.5:
        small = (max(2, int(np.ceil(size[0] / step))), max(2, int(np.ceil(size[1] / step))))
        to_small = _frame_to_grid(region, size, small) @ np.vstack([matrix, [0, 0, 1]]).astype(np.float64)
        rotated = cv2.warpAffine(layers, to_small[:2].astype(np.float32), small, flags=cv2.INTER_LINEAR,
                                 borderValue=_TRANSPARENT)
        warped = cv2.resize(rotated, size, interpolation=cv2.INTER_LINEAR)  # the grid _frame_to_grid assumed
    else:
        shifted = matrix.astype(np.float32)
        shifted[:, 2] -= (region.x0, region.y0)
        warped = cv2.warpAffine(layers, shifted, size, flags=cv2.INTER_LINEAR, borderValue=_TRANSPARENT)
    # Channels taken apart by OpenCV: a numpy [..., :3] view would be copied pixel by pixel on the way in.
    shown = cv2.extractChannel(warped, 3)
    target = region.slice(frame)
    cv2.multiply(target, cv2.merge([shown, shown, shown]), dst=target, scale=1.0 / 255.0)  # through the view
    cv2.add(target, cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB), dst=target)


def _frame_to_grid(region: Region, size: tuple[int, int], small: tuple[int, int]) -> np.ndarray:
    """3x3 map from frame pixels to the pixels of a `small` grid that cv2.resize scales up onto `region`.

    cv2.resize samples its source at (x + 0.5) * small / size - 0.5 for output pixel x: the same map here.
    """
    kx, ky = small[0] / size[0], small[1] / size[1]
    return np.array([[kx, 0, (0.5 - region.x0) * kx - 0.5], [0, ky, (0.5 - region.y0) * ky - 0.5], [0, 0, 1]])


ColourStats = tuple[np.ndarray, np.ndarray]  # per-channel mean and standard deviation
_MIN_STATS_PIXELS = 24  # fewer pixels under the mask than this: no statistics, the colour is left as it is


def masked_colour(image: np.ndarray, weight: np.ndarray) -> ColourStats | None:
    """Per-channel mean and spread of `image` where `weight` is above one half; None over too few pixels."""
    inside = cv2.compare(weight, 0.5, cv2.CMP_GT)
    if cv2.countNonZero(inside) < _MIN_STATS_PIXELS:
        return None
    mean, std = cv2.meanStdDev(image, mask=inside)
    return mean.reshape(-1), std.reshape(-1)


def colour_table(source: ColourStats, reference: ColourStats) -> np.ndarray:
    """Lookup table (for cv2.LUT) shifting colours with `source`'s mean and spread to `reference`'s."""
    gain = np.clip((reference[1] + 1e-3) / (source[1] + 1e-3), 0.8, 1.25)
    levels = np.arange(256, dtype=np.float32)[:, None]
    table = np.clip((levels - source[0]) * gain + reference[0] + 0.5, 0, 255).astype(np.uint8)  # [256, 3]
    return table.reshape(256, 1, 3)


def match_colour(source: np.ndarray, reference: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Shift `source`'s per-channel colour mean and spread (where `weight` is above one half) to those of
    `reference`, applied as a lookup table: two masked statistics passes and one table pass per frame.
    """
    source_stats, reference_stats = masked_colour(source, weight), masked_colour(reference, weight)
    if source_stats is None or reference_stats is None:
        return source
    return cv2.LUT(source, colour_table(source_stats, reference_stats))


def lower_face_mask_full(points: np.ndarray, shape: tuple[int, int], margin: float = 0.08) -> np.ndarray:
    """Boolean mask of the whole frame covering the lower face plus `margin` face heights (used by eval)."""
    height, width = shape
    polygon = lower_face_polygon(points, chin_drop=0.12 * face_height(points))
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [cv2.convexHull(np.round(polygon).astype(np.int32))], 1)
    grow = max(3, int(margin * face_height(points)) * 2 + 1)
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))).astype(bool)
