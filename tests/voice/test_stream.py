"""Long texts stream sentence by sentence; the WAV writer keeps one sentence in memory at a time."""

from __future__ import annotations

import itertools
import wave

import pytest

from facecast.voice.base import synthesize, synthesize_stream, write_speech
from facecast.voice.text import MAX_TEXT_CHARS

SENTENCE = "This sentence is one of many in a very long script. "


def test_a_20000_character_text_is_synthesised_lazily():
    text = (SENTENCE * (MAX_TEXT_CHARS // len(SENTENCE)))[:MAX_TEXT_CHARS]
    stream = synthesize_stream(text, "espeak:en-us")
    first_three = list(itertools.islice(stream, 3))  # only three sentences synthesised so far
    assert len(first_three) == 3
    assert all(1.0 < clip.duration_s < 6.0 for clip in first_three)  # each chunk is one sentence, not the text
    assert all(clip.phonemes[0].start_s == 0.0 for clip in first_three)  # times relative to each chunk


def test_written_speech_has_global_timings(tmp_path):
    text = "First sentence here. Second one follows! 第三句是中文。"
    speech = write_speech(synthesize_stream(text, "espeak:cmn"), tmp_path / "speech.wav")
    with wave.open(str(speech.audio_path)) as reader:
        assert reader.getframerate() == speech.sample_rate
        assert reader.getnframes() / reader.getframerate() == pytest.approx(speech.duration_s)
    starts = [p.start_s for p in speech.phonemes]
    assert starts == sorted(starts)
    assert speech.phonemes[-1].end_s == pytest.approx(speech.duration_s, abs=1e-3)
    assert [w.text for w in speech.words][:3] == ["First", "sentence", "here."]
    whole = synthesize(text, "espeak:cmn")
    assert speech.duration_s == pytest.approx(whole.duration_s, abs=0.05)  # espeak jitters by a few samples
    clip = speech.load_clip()
    assert clip.duration_s == pytest.approx(speech.duration_s) and clip.words == speech.words
    assert [p.name for p in tmp_path.iterdir()] == ["speech.wav"]  # no temp file left behind
