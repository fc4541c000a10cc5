"""Text validation, sentence splitting, normalisation and the bad-input corpus."""

from __future__ import annotations

import pytest

from facecast.engine.errors import FacecastError, InvalidOptionError
from facecast.voice.base import SynthesisOptions, synthesize, synthesize_stream
from facecast.voice.normalize import normalize
from facecast.voice.text import MAX_TEXT_CHARS, PAUSE_FULL_STOP_S, PAUSE_PARAGRAPH_S, split_sentences


def test_sentences_split_in_chinese_english_and_mixed_text():
    text = "Hello world. It costs $3.50 today!\n\n你好，世界。我喜欢Python和AI！最后一句"
    sentences = list(split_sentences(text))
    assert [s.text for s in sentences] == [
        "Hello world.", "It costs $3.50 today!", "你好，世界。", "我喜欢Python和AI！", "最后一句",
    ]
    assert sentences[0].pause_s == PAUSE_FULL_STOP_S
    assert sentences[1].pause_s == PAUSE_PARAGRAPH_S


def test_overlong_sentence_is_cut_at_clauses():
    text = "，".join(["这是一个很长的从句"] * 80) + "。"
    pieces = list(split_sentences(text, max_chars=100))
    assert len(pieces) > 5
    assert all(len(p.text) <= 100 for p in pieces)
    assert "".join(p.text for p in pieces) == text


def test_chinese_numbers_are_rewritten_and_map_back_to_the_original():
    text = "价格是3.5元，涨了50%，2024年，电话13800138000"
    normalized = normalize(text, "cmn")
    assert "3点五" in normalized.text
    assert "百分之50" in normalized.text and "二零二四年" in normalized.text and "一三八" in normalized.text
    start = normalized.text.index("百分之")
    assert normalized.original_span(start, start + len("百分之50"), text) == "50%"
    assert normalize("ｐｒｉｃｅ ３", "en-us").text == "price 3"


def test_mixed_chinese_english_with_numbers_is_spoken_and_timed():
    text = "我喜欢Python和AI，价格是3.5元，增长了50%。"
    clip = synthesize(text, "espeak:cmn")
    words = [w.text for w in clip.words]
    assert "Python" in words and "3.5" in words
    assert "".join(words) == text
    spans = [(w.start_s, w.end_s) for w in clip.words]
    assert all(a[1] <= b[0] + 1e-6 for a, b in zip(spans, spans[1:]))
    assert 3.0 < clip.duration_s < 12.0


def test_punctuation_makes_pauses():
    clip = synthesize("One. Two. Three.", "espeak:en-us")
    silences = [p for p in clip.phonemes if p.viseme == "sil" and p.end_s - p.start_s >= PAUSE_FULL_STOP_S - 1e-3]
    assert len(silences) >= 3


BAD_INPUTS = [
    ("", "espeak:en-us", "empty_text", "text is empty"),
    ("   \n ", "espeak:en-us", "empty_text", "text is empty"),
    ("?!… ，。", "espeak:en-us", "empty_text", "only punctuation"),
    ("a" * (MAX_TEXT_CHARS + 1), "espeak:en-us", "text_too_long", "the limit is 20000"),
    ("Hello", "espeak:en-usa", "unknown_voice", "espeak:en-us"),
    ("Hello", "nosuchengine:voice", "unknown_voice", "facecast voices"),
    ("Hello", "piper:missing", "unknown_voice", "GET /v1/voices"),
    ("你好世界", "espeak:en-us", "unsupported_language", "espeak:cmn"),
    ("Привет", "espeak:cmn", "unsupported_language", "cannot read the Cyrillic"),
]


@pytest.mark.parametrize(("text", "voice", "code", "message"), BAD_INPUTS)
def test_bad_input_is_refused_before_any_audio(text, voice, code, message):
    with pytest.raises(FacecastError) as caught:
        synthesize_stream(text, voice)  # raises eagerly, not on first iteration
    assert caught.value.code == code
    assert message in str(caught.value)


@pytest.mark.parametrize("options", [{"rate": 3.0}, {"pitch": 13}, {"volume": -1}])
def test_out_of_range_options_are_refused(options):
    with pytest.raises(InvalidOptionError):
        SynthesisOptions(**options)
