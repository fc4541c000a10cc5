"""Phoneme-level lip-sync metric: do bilabials (/p b m/) show a closed mouth when they are spoken?

Audio-only metrics cannot see this: a bilabial is short and quiet, so a mouth that merely follows loudness
leaves it half open. The opening per frame comes from re-tracking the video (the engine's eval tool).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from facecast.engine.speech_types import PhonemeTiming

CLOSED_MARGIN = 0.02  # as the engine's eval: closed = below the video's 5th percentile opening + this


def closed_threshold_for(openings: np.ndarray) -> float:
    """The opening below which a mouth counts as closed in this video."""
    valid = openings[~np.isnan(openings)]
    return float(np.percentile(valid, 5)) + CLOSED_MARGIN if valid.size else float("nan")


def bilabial_closure_rate(
    phonemes: Sequence[PhonemeTiming],
    opening_per_frame: np.ndarray,
    fps: float,
    window_ms: float = 40.0,
    closed_threshold: float | None = None,
) -> float:
    """Share of PP phonemes with a closed mouth in some frame within +-window_ms of the phoneme.

    Args:
        phonemes: timings from synthesis (only viseme "PP" is scored).
        opening_per_frame: inner-lip gap / face height per video frame; NaN where no face was found.
        fps: the video's frame rate.
        window_ms: tolerance around the phoneme's span.
        closed_threshold: opening counted as closed; default closed_threshold_for(opening_per_frame).
    Returns:
        The rate in [0, 1], or NaN when there is no scorable bilabial.
    """
    openings = np.asarray(opening_per_frame, dtype=np.float64)
    threshold = closed_threshold_for(openings) if closed_threshold is None else closed_threshold
    times = (np.arange(len(openings)) + 0.5) / fps
    window = window_ms / 1000.0
    scored = closed = 0
    for phoneme in phonemes:
        if phoneme.viseme != "PP":
            continue
        near = (times >= phoneme.start_s - window) & (times <= phoneme.end_s + window) & ~np.isnan(openings)
        if not near.any():
            continue
        scored += 1
        closed += bool(np.min(openings[near]) <= threshold)
    return closed / scored if scored else math.nan
