"""The lip-sync metrics: bilabial closures on synthetic mouth tracks, sync and travel on the talking man clip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from facecast.engine.evaluate import bilabial_closure_rate, evaluate
from facecast.engine.speech import ANALYSIS_RATE
from facecast.engine.speech_types import PhonemeTiming
from facecast.engine.tracking import Tracks
from tests.support.media import write_audio, write_video

FPS = 25.0
CLIP_FPS = 30.0  # talking_man_480.mp4
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


@pytest.fixture(scope="module")
def synced_speech(man_tracks: Tracks, tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, Path]:
    """Noise whose loudness follows the talking man's own mouth: audio his video is in sync with, and a wav."""
    openings = man_tracks.openings()
    times = np.arange(int(len(openings) / CLIP_FPS * ANALYSIS_RATE)) / ANALYSIS_RATE
    envelope = np.interp(times, (np.arange(len(openings)) + 0.5) / CLIP_FPS, openings)
    noise = np.random.default_rng(2).normal(0, 1, len(times)).astype(np.float32)
    samples = (noise * (0.002 + 2.0 * envelope)).astype(np.float32)
    return samples, write_audio(tmp_path_factory.mktemp("eval") / "synced.wav", samples, ANALYSIS_RATE)


def test_a_shifted_or_frozen_mouth_scores_worse(synced_speech, talking_man_mp4: Path, man_frames: list[np.ndarray],
                                                man_tracks: Tracks, tmp_path: Path) -> None:
    samples, synced = synced_speech
    good, _ = evaluate(talking_man_mp4, audio=synced)
    assert good.face_coverage == 1.0 and good.sync_r > 0.6 and abs(good.sync_lag_ms) <= 40
    late = write_audio(tmp_path / "late.wav", np.r_[np.zeros(ANALYSIS_RATE // 2, np.float32), samples], ANALYSIS_RATE)
    shifted, _ = evaluate(talking_man_mp4, audio=late)  # the sound 500 ms behind the picture
    assert shifted.sync_r < good.sync_r - 0.3
    closed = man_frames[int(np.nanargmin(man_tracks.openings()))]
    frozen_video = write_video(tmp_path / "frozen.mp4", [closed] * len(man_frames), CLIP_FPS)
    frozen, _ = evaluate(frozen_video, audio=synced)
    assert frozen.travel < 0.01 < good.travel
    assert not frozen.sync_r > good.sync_r - 0.3  # NaN (a mouth that never moves) also counts as worse
