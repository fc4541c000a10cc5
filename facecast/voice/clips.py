"""Operations on AudioClips shared by the engines and the synthesis stream: pauses, joins, pitch, word times."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from facecast.engine.speech_types import AudioClip, PhonemeTiming, WordTiming

from .subtitles import split_words


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
    words = split_words(text)
    total = sum(len(word) for word in words)
    timings: list[WordTiming] = []
    position = start_s
    for word in words:
        length = duration_s * len(word) / total if total else 0.0
        timings.append(WordTiming(position, position + length, word))
        position += length
    return timings
