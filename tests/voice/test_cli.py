"""`facecast voices` and `facecast say` as a user runs them."""

from __future__ import annotations

import pytest

from tests.support.cli import run_facecast
from tests.support.media import MEDIA_DIR as MEDIA


def test_voices_lists_english_and_mandarin():
    result = run_facecast("voices", "--engine", "espeak")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "engine", "language", "gender"]
    assert any(line.split()[:3] == ["espeak:en-us", "espeak", "en-us"] for line in lines)
    assert any(line.split()[:3] == ["espeak:cmn", "espeak", "cmn"] for line in lines)


@pytest.mark.parametrize(("args", "code"), [
    (["--text", "  ...  "], "empty_text"),
    (["--text", "hello", "--voice", "espeak:nope"], "unknown_voice"),
    (["--text", "你好", "--voice", "espeak:en-us"], "unsupported_language"),
    (["--text", "hello", "--rate", "9"], "invalid_option"),
])
def test_say_refuses_bad_input_and_writes_nothing(tmp_path, args, code):
    output = tmp_path / "out.mp4"
    result = run_facecast("say", "-t", str(MEDIA / "portrait.jpg"), "-o", str(output), *args)
    assert result.returncode == 2
    assert f"[{code}]" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_say_writes_video_and_subtitles(tmp_path):
    output = tmp_path / "hello.mp4"
    result = run_facecast("say", "-t", str(MEDIA / "portrait.jpg"), "--text", "Peter bought my map. 你好，我们吃饭吧。",
                       "-v", "espeak:cmn", "-o", str(output), "--subtitles", "burn", "-q")
    assert result.returncode == 0, result.stderr
    import av

    with av.open(str(output)) as container:
        duration = container.duration / 1e6
        assert container.streams.video and container.streams.audio
    assert 2.5 < duration < 6.0
    srt = (tmp_path / "hello.srt").read_text(encoding="utf-8")
    assert "Peter bought my map." in srt and "你好，我们吃饭吧。" in srt
    assert (tmp_path / "hello.vtt").read_text(encoding="utf-8").startswith("WEBVTT")


def test_say_soft_subtitles_are_a_track_in_the_mp4(tmp_path):
    output = tmp_path / "soft.mp4"
    result = run_facecast("say", "-t", str(MEDIA / "talking_man_480.mp4"), "--text", "Good morning. Welcome back.",
                       "-o", str(output), "--subtitles", "soft", "-q")
    assert result.returncode == 0, result.stderr
    import av

    with av.open(str(output)) as container:
        texts = [bytes(p)[2:].decode() for p in container.demux(container.streams.subtitles[0]) if p.size > 2]
    assert " ".join(texts).split() == ["Good", "morning.", "Welcome", "back."]
