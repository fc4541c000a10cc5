"""Long texts stream sentence by sentence; the WAV writer keeps one sentence in memory at a time."""

from __future__ import annotations

import itertools
import wave

import numpy as np
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
    # the samples are mapped from a float32 copy beside the WAV; no temp file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav", "speech.wav.f32"]
    with wave.open(str(speech.audio_path)) as reader:
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), "<i2")
    assert np.array_equal(np.asarray(clip.samples), pcm.astype(np.float32) / 32768.0)


def test_long_script_is_never_whole_in_memory(tmp_path):
    """20,000 characters: synthesis streams to disk and the mouth plan reads the speech in chunks."""
    import tracemalloc

    from facecast.engine.options import GenerateOptions
    from facecast.engine.pipeline import plan_mouth

    sentence = "Peter bought my map at the market, and then he walked home slowly. "
    text = (sentence * (MAX_TEXT_CHARS // len(sentence)))[:MAX_TEXT_CHARS]
    tracemalloc.start()
    speech = write_speech(synthesize_stream(text, "espeak:en-us"), tmp_path / "long.wav")
    _, synthesis_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    clip = speech.load_clip()
    frames = int(clip.duration_s * 25)
    plan = plan_mouth(clip, 25.0, frames, GenerateOptions())
    _, planning_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    whole_audio = speech.duration_s * speech.sample_rate * 4  # float32 bytes of the whole speech
    assert speech.duration_s > 900 and plan.frame_count == frames
    assert synthesis_peak < whole_audio / 10 and planning_peak < whole_audio / 4

def test_write_speech_passes_on_the_engine_error_and_leaves_nothing(tmp_path):
    from facecast.voice.base import write_speech
    from facecast.voice.errors import TTSUnreachableError

    def failing():
        raise TTSUnreachableError("speech server local is unreachable")
        yield  # pragma: no cover - makes this a generator

    with pytest.raises(TTSUnreachableError):
        write_speech(failing(), tmp_path / "speech.wav")
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_message_hides_credentials():
    from facecast.voice.openai_compat import _without_credentials

    assert _without_credentials("http://user:secret@127.0.0.1:9/v1/audio/speech") == "http://127.0.0.1:9/v1/audio/speech"
