"""Feathered lower-face masks and blending on a real frame: nothing outside the mask moves, edges fade."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facecast.engine.blend import blend_region, blend_warped, feathered_mask, lower_face_polygon, match_colour
from facecast.engine.landmarks import face_height
from facecast.engine.render.warp import Region
from facecast.engine.tracking import Tracks


@pytest.fixture(scope="module")
def face(man_tracks: Tracks, man_frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, Region]:
    """Frame 0 of the talking man, its landmarks, and a region around the lower face."""
    frame, points = man_frames[0], man_tracks.points[0]
    polygon = lower_face_polygon(points)
    region = Region.around(polygon, 0.1 * face_height(points), frame.shape[1], frame.shape[0])
    return frame, points, region


@pytest.mark.parametrize("feather_px", [0.0, 12.0])
def test_blend_leaves_pixels_outside_the_mask_untouched(face, feather_px: float) -> None:
    frame, points, region = face
    mask = feathered_mask(lower_face_polygon(points), region, feather_px)
    rendered = np.full_like(region.slice(frame), 255)
    out = frame.copy()
    blend_region(out, rendered, mask, region)
    outside = np.ones(frame.shape[:2], bool)
    outside[region.y0:region.y1, region.x0:region.x1] = mask == 0
    np.testing.assert_array_equal(out[outside], frame[outside])
    inside = np.zeros(frame.shape[:2], bool)
    inside[region.y0:region.y1, region.x0:region.x1] = mask > 0.999
    assert inside.sum() > 1000 and (out[inside] == 255).all()


def test_feathered_edges_fade_from_inside_to_outside(face) -> None:
    frame, points, region = face
    polygon = lower_face_polygon(points)
    hard = feathered_mask(polygon, region, 0.0)
    soft = feathered_mask(polygon, region, 12.0)
    assert hard.shape == soft.shape == (region.y1 - region.y0, region.x1 - region.x0)
    # a hard mask is (almost) two-valued; a feathered one has a band of partial weights, wider than the AA edge
    assert ((soft > 0.05) & (soft < 0.95)).sum() > 4 * ((hard > 0.05) & (hard < 0.95)).sum()
    # along a row through the chin the weight falls off step by step, never jumping
    chin_row = soft[int(points[152][1] - 0.05 * face_height(points)) - region.y0]
    assert chin_row.max() > 0.95 and np.abs(np.diff(chin_row)).max() < 0.2
    # the fade straddles the outline: it reaches past it, and the inside away from the edge stays whole
    assert (soft[hard == 0] > 0.2).sum() > 500
    interior = cv2.erode((hard > 0.99).astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert interior.sum() > 1000 and soft[interior].min() > 0.95


def test_colour_match_moves_the_mean_to_the_reference(face) -> None:
    frame, _, region = face
    current = region.slice(frame)
    tinted = np.clip(current.astype(int) + [30, -20, 10], 0, 255).astype(np.uint8)
    weight = np.ones(current.shape[:2], np.float32)
    matched = match_colour(tinted, current, weight)
    before = np.abs(tinted.mean((0, 1)) - current.mean((0, 1))).max()
    after = np.abs(matched.mean((0, 1)) - current.mean((0, 1))).max()
    assert before > 9 and after < 2


def test_warped_blend_lands_only_under_its_weight(face) -> None:
    """A half-size picture blended in through a 2x affine covers the polygon at frame scale, nothing else."""
    frame, points, region = face
    polygon = lower_face_polygon(points)
    half = Region(0, 0, (region.x1 - region.x0) // 2, (region.y1 - region.y0) // 2)
    weight = feathered_mask((polygon - [region.x0, region.y0]) / 2, half, 6.0)
    picture = np.full((half.y1, half.x1, 3), 255, np.uint8)
    out = frame.copy()
    blend_warped(out, picture, weight, np.float32([[2, 0, region.x0], [0, 2, region.y0]]))
    outside = np.ones(frame.shape[:2], bool)
    outside[region.y0:region.y1, region.x0:region.x1] = False
    np.testing.assert_array_equal(out[outside], frame[outside])
    hard = feathered_mask(polygon, region, 0.0) > 0.99
    interior = cv2.erode(hard.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert interior.sum() > 1000 and (region.slice(out)[interior] >= 254).all()
    changed = (region.slice(out) != region.slice(frame)).any(axis=2)
    # the feather of the same polygon drawn at frame scale, give or take a pixel or two of resampling
    reach = cv2.dilate((feathered_mask(polygon, region, 12.0) > 0).astype(np.uint8), np.ones((5, 5), np.uint8))
    assert changed.sum() > hard.sum() and not (changed & (reach == 0)).any()


def test_a_warped_blend_takes_no_colour_from_where_its_weight_is_zero() -> None:
    """Upscaled, the picture's edge mixes only with pixels it covers: a white disk on black, blended on white,
    leaves the frame white (straight colour resampled brings the black in as a grey fringe)."""
    weight = np.zeros((60, 80), np.float32)
    cv2.circle(weight, (40, 30), 20, 1.0, -1)
    picture = np.where(weight[..., None] > 0, 255, 0).astype(np.uint8).repeat(3, axis=2)
    frame = np.full((400, 400, 3), 255, np.uint8)
    blend_warped(frame, picture, weight, np.float32([[3.5, 0.4, 30], [-0.4, 3.5, 50]]))
    assert frame.min() >= 254
