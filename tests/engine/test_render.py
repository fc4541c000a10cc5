"""Both classical renderers on a real closed-mouth frame: only the lower face changes, and it opens as planned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facecast.engine.blend import lower_face_mask_full
from facecast.engine.landmarks import LEFT_EYE_OUTER, RIGHT_EYE_OUTER, mouth_opening
from facecast.engine.motion import TYPICAL_OPENING, MouthPlan
from facecast.engine.options import TrackingOptions
from facecast.engine.render.base import MouthRenderer
from facecast.engine.pipeline import prepare_template
from facecast.engine.render.mouthbank import MIN_SPEECH_LIKE, MouthBank, own_mouth_renderer, target_openings
from facecast.engine.render.parametric import ParametricRenderer
from facecast.engine.results import PreparedTemplate
from facecast.engine.tracking import Tracks, track_frames
from tests.support.media import write_video

OPENINGS = (0.0, 0.06, 0.14)  # planned extra opening per output frame, in face heights


def _plan() -> MouthPlan:
    count = len(OPENINGS)
    return MouthPlan(opening=np.array(OPENINGS, np.float32), width=np.zeros(count, np.float32),
                     press=np.zeros(count, np.float32))


def _build(name: str, prepared: PreparedTemplate, tracks: Tracks) -> MouthRenderer:
    if name == "parametric":
        return ParametricRenderer(_plan())
    return own_mouth_renderer(prepared, tracks, _plan())


@pytest.fixture(scope="module", params=["parametric", "mouthbank"])
def rendered(request: pytest.FixtureRequest, man_prepared: PreparedTemplate, man_tracks: Tracks,
             man_frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The clip's most closed frame, its landmarks, and that frame drawn at each planned opening."""
    index = int(np.nanargmin(man_tracks.openings()))
    frame, points = man_frames[index], man_tracks.points[index]
    renderer = _build(request.param, man_prepared, man_tracks)
    return frame, points, [renderer.render(frame.copy(), points, i) for i in range(len(OPENINGS))]


def test_only_the_lower_face_changes(rendered) -> None:
    frame, points, outputs = rendered
    keep = ~lower_face_mask_full(points, frame.shape[:2], margin=0.15)
    for output in outputs:
        assert output.shape == frame.shape and output.dtype == np.uint8
        assert np.abs(output[keep].astype(int) - frame[keep]).max() <= 2
        eye_line = int(points[[LEFT_EYE_OUTER, RIGHT_EYE_OUTER], 1].max())
        np.testing.assert_array_equal(output[:eye_line], frame[:eye_line])  # eyes, forehead, backdrop
    assert np.abs(outputs[-1].astype(int) - frame).max() > 40  # and the mouth really did change


def test_larger_plan_values_open_the_mouth_more(rendered) -> None:
    frame, _, outputs = rendered
    tracks = track_frames([frame, *outputs], len(outputs) + 1, TrackingOptions(smoothing=0.0))
    assert tracks.coverage == 1.0
    measured = [mouth_opening(points) for points in tracks.points]
    assert measured[1] < measured[2] < measured[3]
    assert measured[3] - measured[0] > 0.06


def test_mouth_bank_draws_into_the_frame_it_is_given(man_prepared: PreparedTemplate, man_tracks: Tracks,
                                                     man_frames: list[np.ndarray]) -> None:
    frame = man_frames[0].copy()
    drawn = own_mouth_renderer(man_prepared, man_tracks, _plan()).render(frame, man_tracks.points[0], 2)
    assert drawn is frame and np.abs(drawn.astype(int) - man_frames[0]).max() > 40


def test_mouthbank_targets_shut_the_lips_only_where_a_closure_covers_the_frame() -> None:
    """The plan's opening already carries its press: a frame at a closure's edge keeps that opening (scaled to
    the person's range once, not closed a second time); a frame the closure covers shows the closed mouth."""
    count = 50
    bank = MouthBank(crops=np.zeros((count, 1, 1, 3), np.uint8), points=np.zeros((count, 478, 2), np.float32),
                     openings=np.linspace(0.0, 0.1, count, dtype=np.float32), widths=np.zeros(count, np.float32),
                     poses=np.zeros((count, 2), np.float32), sharpness=np.ones(count, np.float32),
                     reference=np.zeros((478, 2), np.float32))
    opening = TYPICAL_OPENING / 2
    plan = MouthPlan(opening=np.array([2 * opening, opening, 0.0], np.float32), width=np.zeros(3, np.float32),
                     press=np.array([0.0, 0.75, 1.0], np.float32))
    low, high = np.percentile(bank.openings, [2, 98])
    targets = target_openings(bank, plan, np.ones(count, bool))
    np.testing.assert_allclose(targets, [high, (low + high) / 2, low], rtol=1e-5)


def test_a_short_talking_template_falls_back_to_the_parametric_mouth(
        man_frames: list[np.ndarray], tmp_path: Path) -> None:
    """Fewer speech-like mouths than MIN_SPEECH_LIKE: repeats of so few would stutter, the parametric mouth is
    drawn instead, and its name says why."""
    short = write_video(tmp_path / "short.mp4", man_frames[:MIN_SPEECH_LIKE - 10])
    prepared = prepare_template(short, cache_dir=tmp_path / "templates")
    tracks = Tracks.load(prepared.cache_path / "tracks.npz")
    renderer = own_mouth_renderer(prepared, tracks, _plan())
    assert isinstance(renderer, ParametricRenderer)
    assert renderer.name.startswith("parametric (bank too small:") and "speech-like frames" in renderer.name
    index = int(np.nanargmin(tracks.openings()))
    frame = man_frames[index]
    opened = renderer.render(frame.copy(), tracks.points[index], len(OPENINGS) - 1)
    assert np.abs(opened.astype(int) - frame).max() > 40


def test_the_bank_and_its_looks_come_from_the_template_cache(man_prepared: PreparedTemplate, man_tracks: Tracks,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A second job on a template neither rebuilds its bank nor measures its crops again, and reads the crops
    through a memory map instead of loading them whole; an earlier version's bank files are removed."""
    from facecast.engine.render import mouthbank

    stale = man_prepared.cache_path / "mouthbank-v2.npz"  # an earlier facecast's bank
    stale.write_bytes(b"old")
    first = own_mouth_renderer(man_prepared, man_tracks, _plan())
    assert not stale.exists()

    def refuse(*args: object) -> None:
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(mouthbank, "build_bank", refuse)
    monkeypatch.setattr(mouthbank, "measure_looks", refuse)
    again = own_mouth_renderer(man_prepared, man_tracks, _plan())
    assert isinstance(again.bank.crops, np.memmap)
    np.testing.assert_array_equal(again.bank.crops, first.bank.crops)
    np.testing.assert_array_equal(again.chosen, first.chosen)
