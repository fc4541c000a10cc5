"""Sentence-by-sentence synthesis into AudioClips, and speech written to a WAV as it streams.

Voice ids name the engine first: `espeak:en-us`, `piper:<name>`, `openai:<server>/<voice>`. Every engine
synthesises one sentence at a time; this module splits text, adds the pauses punctuation asks for, and
streams the result so a long script never sits in memory as one piece of audio.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facecast.engine.files import atomic_output
from facecast.engine.speech_types import AudioClip, PhonemeTiming, WordTiming

from .clips import append_silence, concatenate, offset_timings
from .options import (
    DEFAULT_VOICE,
    OpenAIServerConfig,
    PiperVoiceConfig,
    SynthesisOptions,
    Voice,
    VoiceConfig,
    VoiceInfo,
)
from .registry import get_voice, list_voices
from .text import check_language_or_raise, is_chinese, split_sentences, validate_text

__all__ = [  # the types are re-exported: callers import the whole voice interface from here
    "DEFAULT_VOICE", "OpenAIServerConfig", "PiperVoiceConfig", "SynthesisOptions", "SynthesizedSpeech", "Voice",
    "VoiceConfig", "VoiceInfo", "get_voice", "list_voices", "synthesize", "synthesize_stream", "write_speech",
]

log = logging.getLogger("facecast.voice")


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
        import wave

        mapped = self.audio_path.with_name(self.audio_path.name + ".f32")
        if not mapped.exists() or mapped.stat().st_mtime < self.audio_path.stat().st_mtime:
            # Concurrent loads each write their own temporary file; the last rename wins, all are complete.
            with atomic_output(mapped) as temporary, wave.open(str(self.audio_path), "rb") as reader, \
                    open(temporary, "wb") as out:
                step = reader.getframerate() * 10
                while frames := reader.readframes(step):
                    (np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0).tofile(out)
        samples = np.memmap(mapped, dtype=np.float32, mode="r") if mapped.stat().st_size else np.zeros(0, np.float32)
        return AudioClip(samples, self.sample_rate, list(self.phonemes), list(self.words))


def write_speech(clips: Iterator[AudioClip], path: Path) -> SynthesizedSpeech:
    """Write streamed clips to a 16-bit mono WAV as they arrive; only one sentence is held at a time.

    The file appears at `path` only when complete.
    """
    import itertools
    import wave

    path = Path(path)
    phonemes: list[PhonemeTiming] = []
    words: list[WordTiming] = []
    total = 0
    # The first sentence is synthesised before the WAV is opened: a failing engine then raises its own
    # error (say tts_unreachable) rather than the WAV writer complaining about an empty header.
    stream = iter(clips)
    first = next(stream, None)
    if first is None:
        raise ValueError("no audio was synthesised")
    sample_rate = first.sample_rate
    with atomic_output(path) as temporary, wave.open(str(temporary), "wb") as writer:
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
    return SynthesizedSpeech(path, sample_rate, total / sample_rate, phonemes, words)
