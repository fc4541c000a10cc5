"""Speech-like mouths on real frames of talking_woman_480.mp4, which pulls faces between talking stretches.

The frame numbers were picked by looking at the clip: her rest pose, short open vowels with the upper teeth
showing, and the faces no new speech should borrow.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facecast.engine.media import iter_frames, probe
from facecast.engine.options import TrackingOptions
from facecast.engine.render.expression import judge, measure_looks
from facecast.engine.render.mouthbank import canonical_reference, mouth_asymmetry, to_canonical
from facecast.engine.tracking import track_frames

REST = [0, 12, 24]                                  # lips closed, relaxed
SPEAKING = [138, 141, 150, 400, 411, 792]           # mid vowels, upper teeth showing evenly
FACES = {78: "tongue", 372: "tongue", 108: "teeth bared", 510: "teeth bared", 780: "pout", 534: "pout",
         270: "twisted", 551: "twisted",
         683: "twisted", 257: "twisted", 871: "twisted",  # tongue tip at a corner, one-sided bite, mouth sideways
         261: "lips hidden", 265: "lips hidden", 267: "lips hidden",  # closed, the lower lip drawn in on one side
         287: "twisted", 316: "twisted"}  # the lower lip bitten at one side; curled over the tongue at one side


@pytest.fixture(scope="module")
def reasons(talking_woman_mp4: Path) -> dict[int, set[str]]:
    """Frame number -> the non-speech reasons it triggers (empty: speech-like)."""
    wanted = sorted(REST + SPEAKING + list(FACES))
    frames = [frame for index, frame in enumerate(iter_frames(talking_woman_mp4, probe(talking_woman_mp4)))
              if index in wanted]
    tracks = track_frames(frames, len(frames), TrackingOptions(smoothing=0.0))
    assert tracks.coverage == 1.0
    reference, size = canonical_reference(tracks.points[0])
    crops, points = [], []
    for frame, frame_points in zip(frames, tracks.points):  # aligned as the mouth bank aligns its crops
        matrix = to_canonical(frame_points, reference)
        crops.append(cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
        points.append(frame_points @ matrix[:, :2].T + matrix[:, 2])
    points_array = np.array(points, np.float32)
    looks = measure_looks(np.array(crops), points_array, np.array([mouth_asymmetry(p) for p in points_array]))
    verdict = judge(looks)
    found = {index: {name for name, mask in verdict.reasons.items() if mask[slot]} for slot, index in enumerate(wanted)}
    assert all(verdict.speech_like[slot] == (not found[index]) for slot, index in enumerate(wanted))
    return found


@pytest.mark.parametrize("index", REST + SPEAKING)
def test_rest_and_speaking_mouths_are_kept(reasons: dict[int, set[str]], index: int) -> None:
    assert not reasons[index]


@pytest.mark.parametrize("index", sorted(FACES))
def test_faces_are_kept_out_for_the_right_reason(reasons: dict[int, set[str]], index: int) -> None:
    assert FACES[index] in reasons[index]
