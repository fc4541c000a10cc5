"""Subtitle cues from synthesis timings: layout limits, file formats, burning into frames."""

from __future__ import annotations

import re

import numpy as np
import pytest

from facecast.voice.base import synthesize
from facecast.voice.burn import SubtitleBurner, SubtitleStyle
from facecast.voice.subtitles import _CLOSING, Cue, build_cues, split_words, wrap_tokens, write_srt, write_vtt

ENGLISH = (
    "Digital presenters can read any script you write. This paragraph is deliberately long, so that the "
    "subtitle builder has to split one sentence over several cues while keeping every line short enough to "
    "read comfortably on a phone screen. Short one."
)
CHINESE = (
    "人工智能正在改变我们的生活方式，从医疗到教育，从交通到娱乐，几乎每一个行业都在经历深刻的变革。"
    "我们需要认真思考如何应对这些挑战，同时抓住新的机遇。"
)


def _check_layout(cues: list[Cue], text: str, joiner: str) -> None:
    assert cues
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2
        assert all(0 < len(line) <= 42 for line in cue.lines)
        assert all(line[0] not in _CLOSING for line in cue.lines)  # no line starts with closing punctuation
        assert cue.end_s > cue.start_s
    for previous, current in zip(cues, cues[1:]):
        assert previous.end_s <= current.start_s + 1e-9
    spoken = joiner.join(joiner.join(cue.lines) for cue in cues)
    assert re.sub(r"\s", "", spoken) == re.sub(r"\s", "", text)


def test_english_cues_fit_two_lines_of_42_characters():
    clip = synthesize(ENGLISH, "espeak:en-us")
    cues = build_cues(clip.words)
    _check_layout(cues, ENGLISH, " ")
    assert len(cues) >= 4
    assert cues[-1].lines == ("Short one.",)
    assert cues[-1].end_s <= clip.duration_s


def test_chinese_cues_break_between_characters_but_not_before_punctuation():
    clip = synthesize(CHINESE, "espeak:cmn")
    cues = build_cues(clip.words)
    _check_layout(cues, CHINESE, "")
    lines = wrap_tokens(split_words("从医疗到教育，从交通到娱乐，"), 7)
    assert lines == ["从医疗到教育，", "从交通到娱乐，"]
    lines = wrap_tokens(split_words("我喜欢Python和AI。"), 9)
    assert lines == ["我喜欢Python", "和AI。"]


def test_srt_and_vtt_files(tmp_path):
    cues = [Cue(0.0, 1.5, ("Hello there.",)), Cue(61.25, 3725.5, ("你好，", "世界"))]
    srt = write_srt(cues, tmp_path / "out.srt").read_text(encoding="utf-8")
    assert srt == "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n00:01:01,250 --> 01:02:05,500\n你好，\n世界\n"
    vtt = write_vtt(cues, tmp_path / "out.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n")
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".*"))  # no temp files left


@pytest.mark.parametrize("position", ["bottom", "top"])
def test_burned_subtitles_draw_cjk_text_where_asked(position):
    cues = [Cue(1.0, 2.0, ("你好，世界！Hello",))]
    burner = SubtitleBurner(cues, 320, 240, SubtitleStyle(position=position, size_px=24, outline_px=2))
    before = np.full((240, 320, 3), 90, np.uint8)
    assert (burner.draw(before.copy(), 0.5) == before).all()  # no cue yet
    frame = burner.draw(before.copy(), 1.5)
    rows = np.nonzero((frame != 90).any(axis=2))[0]
    assert rows.size > 0
    assert (rows.min() > 120) if position == "bottom" else (rows.max() < 120)
    assert (frame == 255).all(axis=2).sum() > 100 and (frame == 0).all(axis=2).sum() > 100  # text and outline
    assert (burner.draw(before.copy(), 2.5) == before).all()  # cue over
