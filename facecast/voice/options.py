"""What the voice layer is configured with and describes: voice ids, synthesis options, engine settings.

Engines and the registry import these; nothing here imports an engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from facecast.engine.optionspec import check_options, option
from facecast.engine.speech_types import AudioClip

from .text import is_chinese

DEFAULT_VOICE = "espeak:en-us"
PREVIEW_TEXTS = {
    "en": "Hello! I am your digital presenter, and I can read any script you write.",
    "zh": "你好！我是你的数字人主播，可以朗读你写的任何稿子。",
}


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """A voice as listed by `facecast voices` and `GET /v1/voices`."""

    id: str                 # engine:name, the value to pass as --voice
    engine: str             # "espeak", "piper" or "openai"
    language: str | None    # BCP-47-like code ("en-us", "cmn"); None when the server does not say
    gender: str | None      # "male", "female" or None when unknown
    name: str               # human-readable name

    @property
    def preview_text(self) -> str:
        """A sentence in the voice's language for previews."""
        return PREVIEW_TEXTS["zh" if is_chinese(self.language) else "en"]


@dataclass(frozen=True, slots=True)
class SynthesisOptions:
    """How a voice speaks. Each engine applies rate and pitch natively or by resampling; volume is a gain."""

    rate: float = option(1.0, "Speaking speed, 0.5-2.0; 1 is the voice's normal speed.", min=0.5, max=2.0, api=True)
    pitch: float = option(0.0, "Pitch shift in semitones, -12 to 12.", min=-12.0, max=12.0, api=True)
    volume: float = option(1.0, "Volume gain, 0-2; 1 is unchanged, samples are clipped to [-1, 1].", min=0.0,
                           max=2.0, api=True)

    def __post_init__(self) -> None:
        check_options(self)


SubtitlesMode = Literal["none", "soft", "burn"]


@dataclass(frozen=True, slots=True)
class SubtitleOptions:
    """What a spoken video carries besides its SRT and WebVTT files, which are always written."""

    mode: SubtitlesMode = option("none", "Subtitles in the video: none, soft (a track players can switch on) or "
                                 "burn (drawn into the picture).", name="subtitles", api=True)

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True, slots=True)
class PiperVoiceConfig:
    """A Piper voice on disk: `model.onnx` and its `model.onnx.json`."""

    name: str
    model_path: Path
    config_path: Path | None = None  # defaults to model_path + ".json"
    speaker: int | None = None       # speaker id for multi-speaker models


@dataclass(frozen=True, slots=True)
class OpenAIServerConfig:
    """A server speaking the OpenAI `POST /v1/audio/speech` protocol (CosyVoice, fish-speech, ...)."""

    name: str
    base_url: str                    # e.g. http://127.0.0.1:9880/v1
    model: str = "tts-1"
    voices: tuple[str, ...] = ("alloy",)
    api_key: str | None = None
    language: str | None = None      # what its voices speak, when known; enables the language check
    timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """Voices beyond the embedded espeak ones. The service builds this from its settings."""

    piper: tuple[PiperVoiceConfig, ...] = ()
    openai: tuple[OpenAIServerConfig, ...] = ()
    piper_dirs: tuple[Path, ...] = field(default=())  # every *.onnx with a .onnx.json beside it is a voice


class Voice(Protocol):
    """One TTS voice. synthesize() speaks one sentence; times in the clip start at 0."""

    info: VoiceInfo

    def synthesize(self, text: str, options: SynthesisOptions) -> AudioClip: ...
