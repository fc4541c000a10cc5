"""Voice lookup: the spellings people use find the voice they mean; anything else names the closest ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from facecast.voice.errors import UnknownVoiceError
from facecast.voice.registry import SUGGESTIONS, get_voice, list_voices
from tests.support.cli import run_facecast
from tests.support.media import MEDIA_DIR as MEDIA



@pytest.mark.parametrize("spelling", ["espeak:cmn", "cmn", "zh", "zh-CN", "zh_cn", "ZH-cn", "Mandarin", "MANDARIN",
                                      "chinese", " cmn "])
def test_every_spelling_of_mandarin_finds_the_mandarin_voice(spelling: str) -> None:
    assert get_voice(spelling).info.id == "espeak:cmn"


@pytest.mark.parametrize(("spelling", "voice_id"), [
    ("en", "espeak:en-us"), ("EN", "espeak:en-us"), ("English", "espeak:en-us"), ("en-GB", "espeak:en-gb"),
    ("en_gb", "espeak:en-gb"), ("espeak:EN-US", "espeak:en-us"), ("en-us+f3", "espeak:en-us+f3"),
    ("de", "espeak:de"), ("German", "espeak:de"), ("fr", "espeak:fr-fr"), ("Cantonese", "espeak:yue"),
])
def test_language_codes_and_names_give_the_language_default(spelling: str, voice_id: str) -> None:
    assert get_voice(spelling).info.id == voice_id


@pytest.mark.parametrize("unknown", ["espeak:en-usa", "klingonese", "azure:jenny", "piper:missing", "espeak:zh",
                                     "espeak:", ""])
def test_unknown_voice_names_the_three_closest_and_how_to_list_all(unknown: str) -> None:
    with pytest.raises(UnknownVoiceError) as caught:
        get_voice(unknown)
    message = str(caught.value)
    ids = [v.id for v in list_voices()]
    named = [voice_id for voice_id in ids if voice_id in message.split("closest are ", 1)[1].split(";")[0].split(", ")]
    assert len(named) == SUGGESTIONS
    assert "facecast voices" in message and "GET /v1/voices" in message
    assert len(message) < 300  # never the whole list of voices


def test_suggestions_are_close_to_what_was_typed() -> None:
    with pytest.raises(UnknownVoiceError, match="espeak:en-us"):
        get_voice("espeak:en-usa")


@pytest.mark.parametrize("unsafe", ["en-us+nosuchvariant", "cmn+" + "f" * 60, "zh+../../etc/passwd",
                                    "espeak:en-us+../../x", "en-us\0f3", "x" * 10_000])
def test_only_listed_voices_and_variants_are_accepted(unsafe: str) -> None:
    with pytest.raises(UnknownVoiceError) as caught:
        get_voice(unsafe)
    assert len(str(caught.value)) < 300  # a huge id is not echoed back whole


@pytest.mark.parametrize("language", ["zh", "cmn", "ZH_cn"])
def test_voices_command_lists_mandarin_for_any_spelling(language: str) -> None:
    result = run_facecast("voices", "--language", language)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]][:2] == ["espeak:cmn", "espeak:cmn+f3"]


@pytest.mark.parametrize(("voice", "voice_id"), [("zh-CN", "espeak:cmn"), ("en-GB", "espeak:en-gb")])
def test_say_resolves_the_voice_before_checking_the_text(tmp_path: Path, voice: str, voice_id: str) -> None:
    """The language check names the voice the spelling resolved to; nothing is written."""
    text = "Привет"  # Cyrillic: neither voice reads it
    result = run_facecast("say", "-t", str(MEDIA / "portrait.jpg"), "-o", str(tmp_path / "out.mp4"), "--text", text,
                       "--voice", voice)
    assert result.returncode == 2
    assert "[unsupported_language]" in result.stderr and voice_id in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_say_with_an_unknown_voice_suggests_and_points_to_the_list(tmp_path: Path) -> None:
    result = run_facecast("say", "-t", str(MEDIA / "portrait.jpg"), "-o", str(tmp_path / "out.mp4"), "--text", "Hi.",
                       "--voice", "espeak:en-usa")
    assert result.returncode == 2 and "[unknown_voice]" in result.stderr
    assert "espeak:en-us" in result.stderr and "facecast voices" in result.stderr
    assert len(result.stderr) < 400
    assert list(tmp_path.iterdir()) == []
