"""The embedded espeak-ng voice: real synthesis, phoneme timings and viseme labels."""

from __future__ import annotations

import numpy as np
import pytest

from facecast.engine.speech_types import VISEMES
from facecast.voice.base import SynthesisOptions, list_voices, synthesize


def _assert_timings_cover(clip) -> None:
    starts = [p.start_s for p in clip.phonemes]
    assert starts == sorted(starts)
    for previous, current in zip(clip.phonemes, clip.phonemes[1:]):
        assert current.start_s == pytest.approx(previous.end_s, abs=1e-6)  # no gaps, no overlaps
    assert clip.phonemes[0].start_s == 0.0
    assert clip.phonemes[-1].end_s == pytest.approx(clip.duration_s, abs=1e-3)
    assert all(p.viseme in VISEMES for p in clip.phonemes)


def _rms(clip, start_s: float, end_s: float) -> float:
    part = clip.samples[int(start_s * clip.sample_rate) : int(end_s * clip.sample_rate)]
    return float(np.sqrt(np.mean(part**2))) if len(part) else 0.0


def test_english_is_audible_with_plausible_length_and_full_timings():
    clip = synthesize("The quick brown fox jumps over the lazy dog.", "espeak:en-us")
    assert clip.samples.dtype == np.float32
    assert 1.5 < clip.duration_s < 5.0
    assert _rms(clip, 0, clip.duration_s) > 0.02
    _assert_timings_cover(clip)
    assert [w.text for w in clip.words] == "The quick brown fox jumps over the lazy dog.".split()


def test_bilabials_in_peter_bought_my_map_are_closed_at_the_right_places():
    clip = synthesize("Peter bought my map.", "espeak:en-us")
    closed = [p for p in clip.phonemes if p.viseme == "PP"]
    assert [p.phoneme for p in closed] == ["p", "b", "m", "m", "p"]
    words = {w.text.strip("."): w for w in clip.words}
    owners = [next(w for w in words.values() if w.start_s <= p.start_s < w.end_s).text.strip(".") for p in closed]
    assert owners == ["Peter", "bought", "my", "map", "map"]
    # A closure sounds quieter than the open vowel right after it: the timing matches the audio.
    for phoneme in closed[:4]:
        vowel = clip.phonemes[clip.phonemes.index(phoneme) + 1]
        assert vowel.viseme in ("ih", "oh", "aa")
        assert _rms(clip, phoneme.start_s, phoneme.end_s) < _rms(clip, vowel.start_s, vowel.end_s)


def test_mandarin_has_syllable_timings_and_visemes():
    text = "你好，我们吃饭吧。"
    clip = synthesize(text, "espeak:cmn")
    assert 1.2 < clip.duration_s < 5.0
    assert _rms(clip, 0, clip.duration_s) > 0.02
    _assert_timings_cover(clip)
    visemes = [p.viseme for p in clip.phonemes]
    assert visemes.count("PP") == 2  # m in 们, b in 吧
    assert "FF" in visemes and "CH" in visemes  # f in 饭, ch in 吃
    assert "".join(w.text for w in clip.words) == text


def test_rate_and_volume_change_the_audio():
    normal = synthesize("Hello there, how are you today?", "espeak:en-us")
    fast = synthesize("Hello there, how are you today?", "espeak:en-us", SynthesisOptions(rate=1.6))
    assert fast.duration_s < 0.8 * normal.duration_s
    quiet = synthesize("Hello there.", "espeak:en-us", SynthesisOptions(volume=0.25))
    loud = synthesize("Hello there.", "espeak:en-us")
    # espeak adds a little jitter between runs, so compare loudness, not samples
    assert _rms(quiet, 0, quiet.duration_s) == pytest.approx(0.25 * _rms(loud, 0, loud.duration_s), rel=0.05)


def test_voice_list_has_english_and_mandarin():
    voices = {v.id: v for v in list_voices()}
    assert len(voices) > 100
    assert voices["espeak:en-us"].language == "en-us"
    assert voices["espeak:cmn"].engine == "espeak"
    assert voices["espeak:cmn+f3"].gender == "female"
    assert "你好" in voices["espeak:cmn"].preview_text
