"""Data types shared between speech analysis, the mouth planner and the voice engines."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Viseme classes a phoneme maps to. The planner turns each into a target mouth state.
VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou")


@dataclass(frozen=True, slots=True)
class PhonemeTiming:
    """One phoneme as spoken by a TTS engine: when it sounds and which mouth shape it needs."""

    start_s: float
    end_s: float
    phoneme: str  # engine-specific symbol, kept for debugging and subtitles
    viseme: str   # one of VISEMES


@dataclass(frozen=True, slots=True)
class WordTiming:
    """A word or CJK character group with its time span, for subtitles."""

    start_s: float
    end_s: float
    text: str


@dataclass(slots=True)
class AudioClip:
    """Decoded mono audio. Engine analysis runs at 16 kHz; the encoder muxes `samples` as AAC."""

    samples: np.ndarray  # float32, mono, in [-1, 1]
    sample_rate: int
    phonemes: list[PhonemeTiming] = field(default_factory=list)  # empty unless a TTS engine produced it
    words: list[WordTiming] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass(frozen=True, slots=True)
class SubtitleCue:
    """One subtitle: shown from start_s to end_s; `text` may hold a line break."""

    start_s: float
    end_s: float
    text: str
