"""The mouth motion plan: for every output frame, how open, how wide and how pressed the lips are.

Targets come from phoneme timings when a TTS engine supplied them, else from speech features. They are then
co-articulated (smoothed without lag) and shifted so the mouth leads the sound slightly, as real mouths do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .options import MotionOptions
from .smoothing import gaussian_smooth, running_max, running_min
from .speech import SpeechFeatures, to_video_frames
from .speech_types import PhonemeTiming

# Extra inner-lip opening in face heights (forehead to chin, about 19 cm on an adult). A typical stressed
# syllable of conversational speech opens the lips about 1.5 cm (the shared talking clips: median 0.09); only the
# loudest open vowels of a recording come near MAX_OPENING (2.5 cm), which a calm recording never reaches.
TYPICAL_OPENING = 0.085
MAX_OPENING = 0.13
# Loudness is linear in dB, which flattens the dips between syllables into plateaus; 10 ** (0.6 * loudness)
# expands it part of the way back towards amplitude (all the way, the mouth would stop following the voice).
_LEVEL_EXPANSION = 0.6
_SYLLABLE_S = 0.2         # window in which one syllable's nucleus is the local peak (syllables: 4-6 per second)
_VOWEL_S = 0.2            # a jaw holds a vowel's opening about this long, then relaxes while the voice goes on
_HELD_RELAX = 0.3         # share of a held opening given up once the voice has stayed up longer than a vowel
_SPREAD_CLOSING = 0.3     # spread vowels (i, e) open the jaw this much less than open ones (a, o)
# Lips take their shape before the sound they make is heard; phoneme timings mark the sound.
ARTICULATION_LEAD_S = 0.02

# Viseme -> (opening 0-1, width change -1..1, lip press 0-1). Sources: the MPEG-4 / Oculus viseme sets.
VISEME_SHAPES: dict[str, tuple[float, float, float]] = {
    "sil": (0.0, 0.0, 0.0), "PP": (0.0, -0.05, 1.0), "FF": (0.12, 0.05, 0.3), "TH": (0.3, 0.05, 0.0),
    "DD": (0.35, 0.1, 0.0), "kk": (0.45, 0.05, 0.0), "CH": (0.3, -0.3, 0.0), "SS": (0.18, 0.3, 0.0),
    "nn": (0.25, 0.05, 0.0), "RR": (0.3, -0.35, 0.0), "aa": (1.0, 0.1, 0.0), "E": (0.65, 0.4, 0.0),
    "ih": (0.45, 0.45, 0.0), "oh": (0.75, -0.5, 0.0), "ou": (0.45, -0.7, 0.0),
}


@dataclass(frozen=True, slots=True)
class MouthPlan:
    """Per output frame. opening: extra inner-lip gap in face heights over the rest pose; width: relative
    change of mouth width (-1 rounded .. +1 spread, scaled by the renderer); press: 1 = lips shut tight."""

    opening: np.ndarray
    width: np.ndarray
    press: np.ndarray

    @property
    def frame_count(self) -> int:
        return len(self.opening)


def plan_from_features(features: SpeechFeatures, options: MotionOptions = MotionOptions()) -> MouthPlan:
    """A plan that follows the audio's loudness and vowel colour, closes in pauses and on bilabial dips."""
    fps = features.fps
    spread_vowel = np.clip((features.spread - 0.5) * 2.0, 0.0, 1.0)
    opening = syllable_opening(features) * (1.0 - _SPREAD_CLOSING * spread_vowel) * options.intensity
    width = (features.spread - 0.5) * 1.2 * np.clip(features.loudness * 3, 0, 1)
    press = np.clip(features.closure * 1.3, 0, 1)
    return _finish(opening, width, press, features.silence, fps, options)


def plan_from_phonemes(
    phonemes: list[PhonemeTiming], features: SpeechFeatures, options: MotionOptions = MotionOptions()
) -> MouthPlan:
    """A plan driven by viseme timings, its amplitude modulated by the audio's loudness (stress, emphasis)."""
    fps, count = features.fps, features.frame_count
    # Rasterise the visemes at 100 Hz, then average over each frame: a 40 ms /p/ covers part of a frame only.
    hops = int(np.ceil(count / fps * 100)) + 1
    opening = np.zeros(hops, np.float32)
    width = np.zeros(hops, np.float32)
    for phoneme in phonemes:
        shape = VISEME_SHAPES.get(phoneme.viseme, VISEME_SHAPES["nn"])
        first = max(0, int(round((phoneme.start_s - ARTICULATION_LEAD_S) * 100)))
        last = max(first + 1, int(round((phoneme.end_s - ARTICULATION_LEAD_S) * 100)))
        opening[first:last] = shape[0]
        width[first:last] = shape[1]
    opening, width = to_video_frames(opening, fps, count), to_video_frames(width, fps, count)
    # A bilabial shuts the lips on one frame: the quietest one within 40 ms of it (where its silence or hum
    # is), so the closure lands on the sound and the rest of the syllable stays open.
    press = np.zeros(count, np.float32)
    centres = (np.arange(count) + 0.5) / fps
    for phoneme in phonemes:
        if VISEME_SHAPES.get(phoneme.viseme, (0, 0, 0))[2] < 1.0:
            continue
        near = np.where((centres >= phoneme.start_s - 0.035) & (centres <= phoneme.end_s + 0.035))[0]
        if len(near):
            press[near[np.argmin(features.loudness[near])]] = 1.0
    # The viseme sets the shape; the loudness sets how far it goes (stress, emphasis, trailing off).
    shape = gaussian_smooth(opening, max(0.5, 0.02 * fps))
    opening = syllable_opening(features) * (0.6 + 0.45 * shape) * options.intensity
    silence = features.silence
    return _finish(opening, width, press, silence, fps, options)


def syllable_opening(features: SpeechFeatures) -> np.ndarray:
    """Jaw opening per frame: a peak on each syllable's nucleus, scaled to this recording's own dynamics.

    The recording's median syllable peak opens TYPICAL_OPENING; louder syllables open more (up to
    MAX_OPENING), quieter ones less, and the mouth closes part way between syllables instead of holding open.
    """
    amplitude = (np.power(10.0, _LEVEL_EXPANSION * features.loudness) - 1.0) / (10.0**_LEVEL_EXPANSION - 1.0)
    window = max(3, int(round(_SYLLABLE_S * features.fps)) | 1)
    local_peak = running_max(amplitude, window)
    nucleus = amplitude / np.maximum(local_peak, 1e-6)  # 1 on a syllable's peak, lower on its way in and out
    peaks = amplitude[(nucleus >= 1.0) & (amplitude > 0.1) & ~features.silence]
    typical = float(np.median(peaks)) if len(peaks) >= 3 else 0.5
    relative = amplitude / max(typical, 1e-3)
    # The lowest level of the last _VOWEL_S is near the level itself only when the voice has been held that long.
    vowel = max(3, int(round(_VOWEL_S * features.fps)) | 1)
    held = running_min(amplitude, vowel, origin=vowel // 2) / np.maximum(amplitude, 1e-6)
    dynamics = (0.5 + 0.5 * nucleus**2) * (1.0 - _HELD_RELAX * held * nucleus**2)
    # Above the typical peak the opening grows faster (emphasis) but bends smoothly into the ceiling.
    raw = TYPICAL_OPENING * np.where(relative > 1.0, np.power(relative, 1.5), relative) * dynamics
    headroom = MAX_OPENING - TYPICAL_OPENING
    above = np.maximum(raw - TYPICAL_OPENING, 0.0)
    return np.minimum(raw, TYPICAL_OPENING + headroom * np.tanh(above / headroom)).astype(np.float32)


def _finish(opening: np.ndarray, width: np.ndarray, press: np.ndarray, silence: np.ndarray, fps: float,
            options: MotionOptions) -> MouthPlan:
    # Co-articulation: neighbouring sounds blend. Zero-phase smoothing keeps the timing (no lag).
    sigma = max(0.5, 0.030 * fps)
    opening = gaussian_smooth(opening.astype(np.float32), sigma)
    width = gaussian_smooth(width.astype(np.float32), sigma * 1.5)
    opening[silence] = 0.0
    width[silence] *= 0.3
    # Let the mouth settle towards a pause instead of snapping shut.
    opening = gaussian_smooth(opening, 0.5)
    lead_frames = options.lead_ms / 1000.0 * fps
    if lead_frames > 0:  # the mouth leads: frame i shows the shape of the sound at i + lead (sub-frame)
        opening, width = _advance(opening, lead_frames), _advance(width, lead_frames)
    # Closures stay where the sound closes (a /p/'s silence, an /m/'s hum) and crisp: never shifted or blurred.
    opening = opening * (1.0 - np.clip(press, 0, 1))
    return MouthPlan(opening=np.clip(opening, 0, None), width=np.clip(width, -1, 1), press=press)


def _advance(series: np.ndarray, frames: float) -> np.ndarray:
    positions = np.arange(len(series), dtype=np.float64) + frames
    return np.interp(positions, np.arange(len(series)), series).astype(np.float32)
