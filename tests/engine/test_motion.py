"""The mouth plan on real speech features: open on speech, shut in pauses and on bilabials, leading the sound."""

from __future__ import annotations

import numpy as np
import pytest

from facecast.engine.motion import MAX_OPENING, TYPICAL_OPENING, MouthPlan, plan_from_features, plan_from_phonemes
from facecast.engine.options import MotionOptions
from facecast.engine.runs import true_runs
from facecast.engine.speech import SpeechFeatures
from facecast.engine.speech_types import PhonemeTiming
from tests.engine.test_speech import FPS, PAUSE, features_of, frames_between, speech_pause_speech


@pytest.fixture(scope="module")
def features(speech_16k: np.ndarray) -> SpeechFeatures:
    return features_of(speech_pause_speech(speech_16k))


def test_plan_opens_on_speech_and_closes_in_pauses(features: SpeechFeatures) -> None:
    plan = plan_from_features(features)
    assert plan.frame_count == features.frame_count
    assert plan.opening[frames_between(PAUSE[0] + 0.1, PAUSE[1] - 0.1)].max() < 1e-4
    spoken = plan.opening[frames_between(0, PAUSE[0])]
    assert 0.5 * TYPICAL_OPENING < spoken.max() <= MAX_OPENING and spoken.mean() > 0.2 * TYPICAL_OPENING
    # it follows the voice within speech too, not just speech against pause
    assert np.corrcoef(spoken, features.loudness[frames_between(0, PAUSE[0])])[0, 1] > 0.6


def test_typical_speech_opens_moderately_and_never_holds_a_wide_opening(features: SpeechFeatures) -> None:
    opening = plan_from_features(features).opening
    spoken = opening[~features.silence]
    assert np.percentile(spoken, 50) < 0.6 * TYPICAL_OPENING < np.percentile(spoken, 90) < 1.3 * TYPICAL_OPENING
    # wide openings last a vowel (a long stressed one: 0.35 s at most), then the jaw comes back up
    wide = opening > 0.7 * opening.max()
    assert max(stop - start for start, stop in true_runs(wide)) <= 0.35 * FPS
    # the jaw moves with the syllables: every 0.4 s of speech has a dip of a third of its peak
    window = int(0.4 * FPS)
    for start in range(0, len(opening) - window, window // 2):
        part = opening[start:start + window]
        if part.min() > 0.01:
            assert part.min() < 0.67 * part.max(), start


def test_openings_follow_the_recording_s_own_loudness(features: SpeechFeatures) -> None:
    """A calm recording (its syllables all equally loud) opens no wider than a typical syllable, and the
    opening does not depend on the recording's gain."""
    calm = SpeechFeatures(fps=features.fps, loudness=np.minimum(features.loudness, 0.75), spread=features.spread,
                          closure=features.closure, silence=features.silence)
    assert plan_from_features(calm).opening.max() <= TYPICAL_OPENING
    quieter = SpeechFeatures(fps=features.fps, loudness=np.clip(features.loudness - 0.1, 0, 1),
                             spread=features.spread, closure=features.closure, silence=features.silence)
    assert plan_from_features(quieter).opening.max() == pytest.approx(plan_from_features(features).opening.max(),
                                                                      rel=0.25)


def test_spread_vowels_open_less_than_open_ones(features: SpeechFeatures) -> None:
    def with_spread(value: float) -> np.ndarray:
        spread = np.full_like(features.spread, value)
        return plan_from_features(SpeechFeatures(fps=features.fps, loudness=features.loudness, spread=spread,
                                                 closure=features.closure, silence=features.silence)).opening
    assert with_spread(1.0).sum() < 0.8 * with_spread(0.5).sum()


def test_intensity_scales_the_opening(features: SpeechFeatures) -> None:
    normal = plan_from_features(features).opening
    wide = plan_from_features(features, MotionOptions(intensity=2.0)).opening
    assert wide.sum() / normal.sum() == pytest.approx(2.0, rel=0.01)


def test_lead_ms_moves_the_mouth_ahead_of_the_sound(features: SpeechFeatures) -> None:
    on_time = plan_from_features(features, MotionOptions(lead_ms=0.0))
    ahead = plan_from_features(features, MotionOptions(lead_ms=40.0))  # one frame at 25 fps
    unpressed = (on_time.press[1:] == 0) & (ahead.press[:-1] == 0)
    np.testing.assert_allclose(ahead.opening[:-1][unpressed], on_time.opening[1:][unpressed], atol=1e-6)
    assert not np.allclose(ahead.opening, on_time.opening)


def _syllables() -> list[PhonemeTiming]:
    """"pa ma ba ..." every 0.3 s across the first stretch of speech: a bilabial, then an open vowel."""
    phonemes = []
    for index, start in enumerate(np.arange(0.2, PAUSE[0] - 0.3, 0.3)):
        phonemes.append(PhonemeTiming(start, start + 0.06, "pmb"[index % 3], "PP"))
        phonemes.append(PhonemeTiming(start + 0.06, start + 0.3, "a", "aa"))
    return phonemes


@pytest.fixture(scope="module")
def phoneme_plan(features: SpeechFeatures) -> MouthPlan:
    return plan_from_phonemes(_syllables(), features)


def test_every_bilabial_shuts_the_lips_on_one_frame(phoneme_plan: MouthPlan) -> None:
    centres = (np.arange(phoneme_plan.frame_count) + 0.5) / FPS
    for phoneme in (p for p in _syllables() if p.viseme == "PP"):
        near = (centres >= phoneme.start_s - 0.035) & (centres <= phoneme.end_s + 0.035)
        assert phoneme_plan.press[near].max() == 1.0, phoneme
        assert phoneme_plan.opening[near].min() == 0.0, phoneme
    assert phoneme_plan.press.sum() == len([p for p in _syllables() if p.viseme == "PP"])


def test_phoneme_plan_opens_between_bilabials_and_shuts_in_the_pause(phoneme_plan: MouthPlan) -> None:
    assert phoneme_plan.opening[frames_between(PAUSE[0] + 0.1, PAUSE[1] - 0.1)].max() < 1e-4
    assert phoneme_plan.opening[frames_between(0.2, PAUSE[0] - 0.3)].max() > 0.5 * TYPICAL_OPENING
