"""Speech features on real speech from eng.wav with a pause cut into it: they follow the voice, not the gain."""

from __future__ import annotations

import numpy as np
import pytest

from facecast.engine.speech import ANALYSIS_RATE, SpeechFeatures, analyse_hops, hop_features, hop_features_stream
from tests.engine.conftest import quiet

FPS = 25.0
PAUSE = (3.0, 5.0)  # seconds: speech, then this pause, then the same speech again


def speech_pause_speech(speech_16k: np.ndarray) -> np.ndarray:
    return np.concatenate([speech_16k, quiet(PAUSE[1] - PAUSE[0]), speech_16k])


def frames_between(start_s: float, stop_s: float) -> slice:
    return slice(int(round(start_s * FPS)), int(round(stop_s * FPS)))


@pytest.fixture(scope="module")
def samples(speech_16k: np.ndarray) -> np.ndarray:
    return speech_pause_speech(speech_16k)


def features_of(samples: np.ndarray) -> SpeechFeatures:
    return analyse_hops(hop_features(samples), FPS, int(len(samples) / ANALYSIS_RATE * FPS))


@pytest.fixture(scope="module")
def features(samples: np.ndarray) -> SpeechFeatures:
    return features_of(samples)


def test_loudness_follows_speech_and_silence(features: SpeechFeatures) -> None:
    assert features.frame_count == 200
    pause = frames_between(PAUSE[0] + 0.1, PAUSE[1] - 0.1)
    assert features.loudness[pause].max() < 0.02
    assert features.loudness[frames_between(0, PAUSE[0])].mean() > 0.4
    assert features.loudness[frames_between(PAUSE[1], 8.0)].mean() > 0.4


def test_pauses_are_marked_only_where_the_voice_stops(features: SpeechFeatures) -> None:
    assert features.silence[frames_between(PAUSE[0] + 0.2, PAUSE[1] - 0.2)].all()
    speaking = np.r_[features.silence[frames_between(0, PAUSE[0] - 0.2)],
                     features.silence[frames_between(PAUSE[1] + 0.2, 8.0)]]
    assert speaking.mean() < 0.05


def test_vowel_spread_varies_in_speech_and_rests_in_pauses(features: SpeechFeatures) -> None:
    assert np.allclose(features.spread[frames_between(PAUSE[0] + 0.1, PAUSE[1] - 0.1)], 0.5, atol=0.02)
    spoken = features.spread[frames_between(0, PAUSE[0])]
    assert spoken.std() > 0.15 and spoken.min() < 0.2 and spoken.max() > 0.8


def test_closures_are_found_inside_speech_only(features: SpeechFeatures) -> None:
    assert features.closure[frames_between(PAUSE[0], PAUSE[1])].max() == 0
    assert features.closure[frames_between(0, PAUSE[0])].max() > 0.5


def test_features_do_not_depend_on_recording_gain(samples: np.ndarray, features: SpeechFeatures) -> None:
    quieter = features_of(samples * 0.25)  # 12 dB down, room tone and all
    assert np.abs(quieter.loudness - features.loudness).max() < 0.05
    assert (quieter.silence == features.silence).mean() > 0.98


def test_streamed_chunks_give_the_same_features(samples: np.ndarray) -> None:
    whole = hop_features(samples)
    chunks = (samples[begin:begin + 1234] for begin in range(0, len(samples), 1234))
    streamed = hop_features_stream(chunks)
    assert len(streamed.level_db) == len(whole.level_db) == len(samples) // 160
    np.testing.assert_allclose(streamed.level_db, whole.level_db, atol=1e-3)
    np.testing.assert_allclose(streamed.tilt_db, whole.tilt_db, atol=1e-3)
