"""The voice interface: voice ids, synthesis options, and sentence-by-sentence synthesis into AudioClips.

Voice ids name the engine first: `espeak:en-us`, `piper:<name>`, `openai:<server>/<voice>`. Every engine
synthesises one sentence at a time; this module splits text, adds the pauses punctuation asks for, and
streams the result so a long script never sits in memory as one piece of audio.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from facecast.engine.errors import InvalidOptionError
from facecast.engine.speech_types import AudioClip, PhonemeTiming, WordTiming

from .errors import UnknownVoiceError
from .text import check_language_or_raise, is_chinese, split_sentences, validate_text

log = logging.getLogger("facecast.voice")

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

    rate: float = 1.0    # speaking speed, 1 = the voice's normal speed, 0.5-2.0
    pitch: float = 0.0   # semitones up (+) or down (-), -12 to 12
    volume: float = 1.0  # gain, 0-2; samples are clipped to [-1, 1]

    def __post_init__(self) -> None:
        if not 0.5 <= self.rate <= 2.0:
            raise InvalidOptionError(f"rate must be between 0.5 and 2.0, got {self.rate}")
        if not -12.0 <= self.pitch <= 12.0:
            raise InvalidOptionError(f"pitch must be between -12 and 12 semitones, got {self.pitch}")
        if not 0.0 <= self.volume <= 2.0:
            raise InvalidOptionError(f"volume must be between 0 and 2, got {self.volume}")


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


def list_voices(config: VoiceConfig = VoiceConfig()) -> list[VoiceInfo]:
    """All voices: embedded espeak (when espeakng-loader is installed), configured Piper and servers."""
    from . import espeak, openai_compat, piper

    return espeak.list_voices() + piper.list_voices(config) + openai_compat.list_voices(config)


def get_voice(voice_id: str, config: VoiceConfig = VoiceConfig()) -> Voice:
    """The voice for an id, or UnknownVoiceError listing the available ids."""
    from . import espeak, openai_compat, piper

    engine, _, name = voice_id.partition(":")
    engine = engine.strip().lower()
    factories = {"espeak": espeak.get_voice, "piper": piper.get_voice, "openai": openai_compat.get_voice}
    voice = factories[engine](name, config) if engine in factories and name else None
    if voice is None:
        available = ", ".join(info.id for info in list_voices(config))
        raise UnknownVoiceError(f"unknown voice {voice_id!r}; available voices: {available}")
    return voice


def synthesize_stream(
    text: str,
    voice_id: str = DEFAULT_VOICE,
    options: SynthesisOptions = SynthesisOptions(),
    config: VoiceConfig = VoiceConfig(),
) -> Iterator[AudioClip]:
    """Check the text and voice now, then yield one clip per sentence (times relative to each clip).

    Each clip ends with the pause its punctuation asks for.

    Raises:
        EmptyTextError, TextTooLongError, UnknownVoiceError, UnsupportedLanguageError: before any audio.
        TTSUnreachableError, TTSFailedError: while iterating, when an engine fails.
    """
    text = validate_text(text)
    voice = get_voice(voice_id, config)
    suggestion = "espeak:cmn" if not is_chinese(voice.info.language) else ""
    check_language_or_raise(text, voice.info.id, voice.info.language, suggestion)
    return _stream(voice, text, options)


def _stream(voice: Voice, text: str, options: SynthesisOptions) -> Iterator[AudioClip]:
    for sentence in split_sentences(text):
        clip = voice.synthesize(sentence.text, options)
        if options.volume != 1.0:
            clip.samples = np.clip(clip.samples * options.volume, -1.0, 1.0).astype(np.float32)
        yield append_silence(clip, sentence.pause_s)


def synthesize(
    text: str,
    voice_id: str = DEFAULT_VOICE,
    options: SynthesisOptions = SynthesisOptions(),
    config: VoiceConfig = VoiceConfig(),
) -> AudioClip:
    """The whole text as one clip with global times. For long texts prefer `write_speech`."""
    return concatenate(list(synthesize_stream(text, voice_id, options, config)))


def append_silence(clip: AudioClip, seconds: float) -> AudioClip:
    """Pad the clip with silence, labelled 'sil' so the mouth closes during the pause."""
    pad = int(round(seconds * clip.sample_rate))
    if pad <= 0:
        return clip
    start = clip.duration_s
    clip.samples = np.concatenate([clip.samples, np.zeros(pad, np.float32)])
    if clip.phonemes and clip.phonemes[-1].viseme == "sil":  # one pause, not two
        start = clip.phonemes.pop().start_s
    clip.phonemes.append(PhonemeTiming(start, clip.duration_s, "_", "sil"))
    return clip


def offset_timings(clip: AudioClip, offset_s: float) -> tuple[list[PhonemeTiming], list[WordTiming]]:
    """The clip's phonemes and words moved by offset_s seconds."""
    phonemes = [replace(p, start_s=p.start_s + offset_s, end_s=p.end_s + offset_s) for p in clip.phonemes]
    words = [replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s) for w in clip.words]
    return phonemes, words


def concatenate(clips: list[AudioClip]) -> AudioClip:
    """Join clips of one sample rate into one, with timings made global."""
    if not clips:
        raise ValueError("no clips to concatenate")
    result = AudioClip(np.zeros(0, np.float32), clips[0].sample_rate)
    offset = 0.0
    for clip in clips:
        phonemes, words = offset_timings(clip, offset)
        result.phonemes.extend(phonemes)
        result.words.extend(words)
        offset += clip.duration_s
    result.samples = np.concatenate([clip.samples for clip in clips]).astype(np.float32)
    return result


def shift_pitch(clip: AudioClip, semitones: float) -> AudioClip:
    """Raise pitch by resampling; the clip gets shorter by the same factor.

    Engines without a pitch control synthesise 2**(semitones/12) times slower first, so the duration comes
    back to normal and only the pitch changes.
    """
    if semitones == 0.0:
        return clip
    from scipy.signal import resample_poly

    factor = Fraction(2.0 ** (semitones / 12.0)).limit_denominator(64)
    samples = resample_poly(clip.samples, factor.denominator, factor.numerator).astype(np.float32)
    scale = float(factor.denominator / factor.numerator)
    phonemes = [replace(p, start_s=p.start_s * scale, end_s=p.end_s * scale) for p in clip.phonemes]
    words = [replace(w, start_s=w.start_s * scale, end_s=w.end_s * scale) for w in clip.words]
    return AudioClip(np.clip(samples, -1.0, 1.0), clip.sample_rate, phonemes, words)


def spread_words(text: str, duration_s: float, start_s: float = 0.0) -> list[WordTiming]:
    """Word times spread over a span in proportion to their length, for engines that give no timings."""
    from .subtitles import split_words

    words = split_words(text)
    total = sum(len(word) for word in words)
    timings: list[WordTiming] = []
    position = start_s
    for word in words:
        length = duration_s * len(word) / total if total else 0.0
        timings.append(WordTiming(position, position + length, word))
        position += length
    return timings


@dataclass(frozen=True, slots=True)
class SynthesizedSpeech:
    """Speech written to a WAV file, with its timings on the file's clock."""

    audio_path: Path
    sample_rate: int
    duration_s: float
    phonemes: list[PhonemeTiming]
    words: list[WordTiming]

    def load_clip(self) -> AudioClip:
        """An AudioClip of the speech, its samples memory-mapped from a float32 copy beside the WAV.

        The copy is written ten seconds at a time, so even a 20,000-character script is never held in
        memory as audio: the engine reads the samples from the page cache as it renders.
        """
        import uuid
        import wave

        mapped = self.audio_path.with_name(self.audio_path.name + ".f32")
        if not mapped.exists() or mapped.stat().st_mtime < self.audio_path.stat().st_mtime:
            temporary = mapped.with_name(f".{mapped.name}.{uuid.uuid4().hex}.tmp")  # concurrent loads each write their own
            with wave.open(str(self.audio_path), "rb") as reader, open(temporary, "wb") as out:
                step = reader.getframerate() * 10
                while frames := reader.readframes(step):
                    (np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0).tofile(out)
            temporary.replace(mapped)
        samples = np.memmap(mapped, dtype=np.float32, mode="r") if mapped.stat().st_size else np.zeros(0, np.float32)
        return AudioClip(samples, self.sample_rate, list(self.phonemes), list(self.words))


def write_speech(clips: Iterator[AudioClip], path: Path) -> SynthesizedSpeech:
    """Write streamed clips to a 16-bit mono WAV as they arrive; only one sentence is held at a time.

    The file appears at `path` only when complete.
    """
    import itertools
    import os
    import tempfile
    import wave

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".wav", dir=path.parent)
    os.close(fd)
    phonemes: list[PhonemeTiming] = []
    words: list[WordTiming] = []
    total = 0
    try:
        # The first sentence is synthesised before the WAV is opened: a failing engine then raises its own
        # error (say tts_unreachable) rather than the WAV writer complaining about an empty header.
        stream = iter(clips)
        first = next(stream, None)
        if first is None:
            raise ValueError("no audio was synthesised")
        sample_rate = first.sample_rate
        with wave.open(tmp_name, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(sample_rate)
            for clip in itertools.chain([first], stream):
                if clip.sample_rate != sample_rate:
                    raise ValueError(f"clip at {clip.sample_rate} Hz in a {sample_rate} Hz stream")
                clip_phonemes, clip_words = offset_timings(clip, total / sample_rate)
                phonemes.extend(clip_phonemes)
                words.extend(clip_words)
                pcm = np.clip(np.round(clip.samples * 32767.0), -32768, 32767).astype("<i2")
                writer.writeframes(pcm.tobytes())
                total += len(pcm)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return SynthesizedSpeech(path, sample_rate, total / sample_rate, phonemes, words)
