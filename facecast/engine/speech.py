"""Speech features per video frame, from the audio alone (any language).

Everything is computed on 10 ms hops of 16 kHz mono audio, in chunks, so ten minutes of audio never becomes
a large spectrogram in memory. Features are then averaged over each video frame's display interval.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .runs import true_runs

ANALYSIS_RATE = 16000
HOP = 160            # 10 ms
WINDOW = 400         # 25 ms
HOP_RATE = ANALYSIS_RATE // HOP
_CHUNK_HOPS = 2000   # 20 s of hops per FFT batch
_LOW_BAND = (300.0, 1000.0)    # F1 region: strong on open vowels
_HIGH_BAND = (1800.0, 3500.0)  # F2/F3 region: strong on spread vowels (i, e), weak on rounded (o, u)


@dataclass(frozen=True, slots=True)
class HopFeatures:
    """Per 10 ms hop: level in dB and the high/low band balance in dB."""

    level_db: np.ndarray
    tilt_db: np.ndarray

    @property
    def duration_s(self) -> float:
        return len(self.level_db) / HOP_RATE


@dataclass(frozen=True, slots=True)
class SpeechFeatures:
    """Per video frame, each in [0, 1]: loudness (0 = silence), spread (0 = rounded, 1 = spread) and closure."""

    fps: float
    loudness: np.ndarray
    spread: np.ndarray
    closure: np.ndarray      # likelihood of a bilabial closure (p, b, m) in this frame
    silence: np.ndarray      # bool: inside a pause

    @property
    def frame_count(self) -> int:
        return len(self.loudness)


def hop_features(samples: np.ndarray) -> HopFeatures:
    """Level and spectral tilt per hop of 16 kHz mono float32 samples."""
    step = ANALYSIS_RATE * 10
    return hop_features_stream(samples[begin:begin + step] for begin in range(0, len(samples), step))


def hop_features_stream(chunks: Iterable[np.ndarray]) -> HopFeatures:
    """hop_features for 16 kHz audio arriving in chunks: only one chunk and its features are held at a time."""
    levels: list[np.ndarray] = []
    tilts: list[np.ndarray] = []
    pending = np.zeros(WINDOW // 2, np.float32)  # the first window is centred on sample 0
    total = done = 0
    for chunk in chunks:
        total += len(chunk)
        pending = np.concatenate([pending, np.asarray(chunk, dtype=np.float32)])
        ready = (len(pending) - WINDOW) // HOP + 1 if len(pending) >= WINDOW else 0
        if ready > 0:
            _analyse_windows(pending, ready, levels, tilts)
            pending = pending[ready * HOP:]
            done += ready
    remaining = max(1, int(np.ceil(total / HOP))) - done
    if remaining > 0:
        _analyse_windows(np.concatenate([pending, np.zeros(WINDOW + HOP * remaining, np.float32)]), remaining,
                         levels, tilts)
    return HopFeatures(level_db=np.concatenate(levels)[: done + max(remaining, 0)],
                       tilt_db=np.concatenate(tilts)[: done + max(remaining, 0)])


def _analyse_windows(samples: np.ndarray, count: int, levels: list[np.ndarray], tilts: list[np.ndarray]) -> None:
    """Append level and tilt of the `count` windows that start every HOP samples in `samples`."""
    window = np.hanning(WINDOW).astype(np.float32)
    freqs = np.fft.rfftfreq(512, 1.0 / ANALYSIS_RATE)
    low = (freqs >= _LOW_BAND[0]) & (freqs < _LOW_BAND[1])
    high = (freqs >= _HIGH_BAND[0]) & (freqs < _HIGH_BAND[1])
    for first in range(0, count, _CHUNK_HOPS):
        size = min(_CHUNK_HOPS, count - first)
        starts = (first + np.arange(size)) * HOP
        frames = samples[starts[:, None] + np.arange(WINDOW)[None, :]] * window
        power = np.abs(np.fft.rfft(frames, n=512, axis=1).astype(np.complex64)) ** 2
        levels.append((10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)).astype(np.float32))
        tilts.append((10 * np.log10((power[:, high].sum(1) + 1e-9) / (power[:, low].sum(1) + 1e-9))).astype(np.float32))


def loudness_from_level(level_db: np.ndarray) -> np.ndarray:
    """Map dB to [0, 1] between the recording's noise floor and its speech peaks (gain-independent)."""
    if len(level_db) == 0:
        return np.zeros(0, np.float32)
    floor = max(float(np.percentile(level_db, 5)), -75.0)
    peak = float(np.percentile(level_db, 98))
    if peak - floor < 12.0:                      # no speech above the floor: silence or constant noise
        if peak < -50.0:
            return np.zeros_like(level_db)
        floor = min(floor, peak - 40.0)
    gate = floor + 0.25 * (peak - floor)         # below this a hop counts as pause
    return np.clip((level_db - gate) / max(peak - gate, 1e-3), 0.0, 1.0).astype(np.float32)


def to_video_frames(per_hop: np.ndarray, fps: float, frame_count: int) -> np.ndarray:
    """Average a per-hop series over each video frame's display interval."""
    edges = np.round(np.arange(frame_count + 1) * HOP_RATE / fps).astype(int)
    edges = np.clip(edges, 0, len(per_hop))
    out = np.zeros(frame_count, np.float32)
    cumulative = np.concatenate([[0.0], np.cumsum(per_hop, dtype=np.float64)])
    widths = edges[1:] - edges[:-1]
    nonempty = widths > 0
    out[nonempty] = (cumulative[edges[1:]] - cumulative[edges[:-1]])[nonempty] / widths[nonempty]
    if not nonempty.all() and nonempty.any():    # frames shorter than a hop: take the hop they fall in
        idx = np.clip(edges[:-1], 0, len(per_hop) - 1)
        out[~nonempty] = per_hop[idx[~nonempty]]
    return out


def closure_events(level_db: np.ndarray, loudness: np.ndarray) -> np.ndarray:
    """Per hop, 1 where a short dip inside speech looks like lips shutting (a stop or nasal closure).

    A bilabial closure silences or muffles the voice for 40-150 ms between two louder stretches.
    """
    closure = np.zeros(len(level_db), np.float32)
    if len(level_db) < 10:
        return closure
    smooth = np.convolve(level_db, np.ones(3) / 3, mode="same")
    for centre in range(4, len(smooth) - 4):
        if smooth[centre] > smooth[centre - 1] or smooth[centre] > smooth[centre + 1]:
            continue  # not a local minimum
        left = smooth[max(0, centre - 15):centre].max()
        right = smooth[centre + 1:centre + 16].max()
        depth = min(left, right) - smooth[centre]
        if depth >= 12.0 and loudness[max(0, centre - 15):centre + 16].max() > 0.35:
            closure[max(0, centre - 2):centre + 3] = np.maximum(closure[max(0, centre - 2):centre + 3],
                                                                 min(1.0, (depth - 9.0) / 6.0))
    return closure


def pause_mask(loudness: np.ndarray, min_hops: int = 15) -> np.ndarray:
    """Per hop, True inside quiet stretches at least `min_hops` long."""
    quiet = loudness < 0.04
    mask = np.zeros_like(quiet)
    for start, stop in true_runs(quiet):
        if stop - start >= min_hops:
            mask[start:stop] = True
    return mask


def analyse_hops(hops: HopFeatures, fps: float, frame_count: int) -> SpeechFeatures:
    """Per-frame loudness, vowel spread, bilabial closures and pauses from 16 kHz hop features."""
    loudness = loudness_from_level(hops.level_db)
    voiced = loudness > 0.1
    tilt = hops.tilt_db
    if voiced.sum() > 10:
        lo, hi = np.percentile(tilt[voiced], [10, 90])
        spread = np.clip((tilt - lo) / max(hi - lo, 1e-3), 0, 1)
        spread[~voiced] = 0.5
    else:
        spread = np.full_like(tilt, 0.5)
    closure = closure_events(hops.level_db, loudness)
    silence = pause_mask(loudness)
    return SpeechFeatures(
        fps=fps,
        loudness=to_video_frames(loudness, fps, frame_count),
        spread=to_video_frames(spread.astype(np.float32), fps, frame_count),
        closure=to_video_frames(closure, fps, frame_count),
        silence=to_video_frames(silence.astype(np.float32), fps, frame_count) > 0.5,
    )
