"""The bilabial closure metric on synthetic mouth tracks."""

from __future__ import annotations

import math

import numpy as np

from facecast.engine.speech_types import PhonemeTiming
from facecast.engine.evaluate import bilabial_closure_rate

FPS = 25.0
PHONEMES = [
    PhonemeTiming(0.00, 0.20, "_", "sil"),
    PhonemeTiming(0.20, 0.26, "p", "PP"),
    PhonemeTiming(0.26, 0.50, "a", "aa"),
    PhonemeTiming(0.50, 0.56, "m", "PP"),
    PhonemeTiming(0.56, 0.90, "a", "aa"),
    PhonemeTiming(0.90, 0.95, "b", "PP"),
    PhonemeTiming(0.95, 1.20, "o", "oh"),
]


def _track(closed_at: list[float]) -> np.ndarray:
    """Open mouth (0.15) everywhere except frames at the given times (0.01), 1.2 s long."""
    openings = np.full(int(1.2 * FPS), 0.15)
    openings[:3] = 0.01  # closed during the leading silence, so the threshold is realistic
    for time_s in closed_at:
        openings[int(time_s * FPS)] = 0.01
    return openings


def test_all_bilabials_closed():
    assert bilabial_closure_rate(PHONEMES, _track([0.22, 0.52, 0.92]), FPS) == 1.0


def test_a_mouth_following_loudness_only_misses_bilabials():
    assert bilabial_closure_rate(PHONEMES, _track([]), FPS) == 0.0


def test_closure_just_inside_and_outside_the_window():
    inside = _track([0.22, 0.52, 0.95 + 0.03])  # 30 ms after /b/ ends
    assert bilabial_closure_rate(PHONEMES, inside, FPS) == 1.0
    outside = _track([0.22, 0.52, 0.95 + 0.09])  # 90 ms after: too late
    assert math.isclose(bilabial_closure_rate(PHONEMES, outside, FPS), 2 / 3)
    assert bilabial_closure_rate(PHONEMES, outside, FPS, window_ms=120) == 1.0


def test_frames_without_a_face_are_not_scored():
    openings = _track([0.22])
    openings[10:] = np.nan
    assert bilabial_closure_rate(PHONEMES, openings, FPS) == 1.0  # only /p/ had a face
    assert math.isnan(bilabial_closure_rate(PHONEMES[:1], openings, FPS))
