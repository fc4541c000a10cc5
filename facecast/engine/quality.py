"""The lip-sync gate: measure a finished video cheaply, then pass it, flag it for review or fail it.

The figures are `facecast eval`'s (evaluate.py), taken on the rendered output re-tracked from scratch, so
they judge what a viewer sees. Tracking a frame costs about as much as rendering it, so only a sample is
tracked: windows of a couple of seconds spread over the video, every other frame, decoded from the keyframe
before each window while the frames before them are tracked. The tracked share shrinks with the length of
the video so that the check stays near a tenth of the render time; short videos are measured on a fixed
minimum of frames, below which r says little, spread over the whole video.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import LowSyncQualityError
from .evaluate import (envelope_db, opening_travel, sample_windows, sampled_openings, silence_closure_at,
                       sound_digest, speech_levels, sync_correlation_at)
from .landmarks import shared_landmarker
from .options import QualityOptions
from .results import QualityReport

logger = logging.getLogger(__name__)

OFFSET_SEARCH_MS = (-800, 800)  # where the audio-vs-mouth offset is looked for; eval's r stays in -40..120
TRACKED_SHARE = 0.04   # share of the frames tracked: tracking one costs about one render of it
MIN_TRACKED = 20       # frames tracked at least: spread over a short video, they told 30 renders from the same
                       # with their sound 300 ms early or 400 ms late as surely as 40 frames did
SHORT_STRIDE = (2, 4)  # a short video's sample takes one frame in 2 to 4, to cover as much of it as it can
MAX_TRACKED = 400      # enough for a stable r however long the video


class SoundMemo:
    """The speech levels of the last sound track measured, found again by its encoded packets: the videos of a
    batch carry the same sound, so it is decoded and analysed once for all of them. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[bytes, tuple[np.ndarray, np.ndarray]] | None = None

    def levels(self, video: Path) -> tuple[np.ndarray, np.ndarray]:
        """speech_levels(video), from memory when the video's sound track is byte for byte the last one's."""
        digest = sound_digest(video)
        with self._lock:
            kept = self._kept
        if kept is not None and digest and kept[0] == digest:
            return kept[1]
        levels = speech_levels(video)
        with self._lock:
            self._kept = (digest, levels)
        return levels


def measure_quality(video: Path, options: QualityOptions = QualityOptions(),
                    render_s: float | None = None, sound: SoundMemo | None = None) -> QualityReport:
    """Lip-sync figures of a finished video against its own audio track, from a sample of its frames.

    Args:
        video: an MP4 written by generate (it carries the speech it was made from).
        options: the threshold applied.
        render_s: how long the render took, to report what the check cost next to it (loading the face
            models, once per process, is not counted).
        sound: where the videos of one batch share their sound track's analysis.
    Returns:
        The report; `passed` is False when no face was found in the sample, since sync is then unknown.
    """
    shared_landmarker()  # loaded once per process; not counted, a worker pays it once for all its videos
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facecast-gate-audio") as pool:
        speech = pool.submit(sound.levels if sound else speech_levels, video)  # beside the frames: neither waits
        sample = sampled_openings(video, gate_windows)
        samples, level = speech.result()
    times, openings = sample.times, sample.openings
    envelope = envelope_db(samples, level)
    r, lag = sync_correlation_at(times, openings, envelope)
    _, offset = sync_correlation_at(times, openings, envelope, OFFSET_SEARCH_MS)
    closed, _ = silence_closure_at(times, openings, samples, level)
    travel = opening_travel(openings)
    valid = openings[~np.isnan(openings)]
    measure_s = time.monotonic() - started
    report = QualityReport(
        sync_r=_finite(r), sync_lag_ms=_finite(lag), offset_ms=_finite(offset), closed_in_silence=_finite(closed),
        travel=_finite(travel),
        face_coverage=float(len(valid) / max(len(openings), 1)), frames_measured=len(openings),
        frame_count=sample.frame_count, measure_s=measure_s,
        cost_ratio=measure_s / render_s if render_s else None, min_sync_r=options.min_sync_r,
        max_offset_ms=options.max_offset_ms,
        passed=r >= options.min_sync_r and abs(offset) <= options.max_offset_ms)  # False for NaN
    logger.info("%s: %s (%d of %d frames in %.2f s)", video.name, report.summary(), report.frames_measured,
                report.frame_count, measure_s)
    return report


def gate_windows(frame_count: int, fps: float) -> list[range]:
    """The frames of a video the gate tracks: a longer video's share in windows of every other frame, a short
    video's minimum spread over all of it, so that it sees speech and pauses alike."""
    tracked = tracked_count(frame_count)
    short = frame_count * TRACKED_SHARE < MIN_TRACKED
    stride = int(np.clip(frame_count // tracked, *SHORT_STRIDE)) if short else 2
    return sample_windows(frame_count, fps, tracked, stride)


def tracked_count(frame_count: int) -> int:
    """How many frames of a video the gate tracks."""
    return int(np.clip(TRACKED_SHARE * frame_count, MIN_TRACKED, MAX_TRACKED))


def gate_or_raise(video: Path, options: QualityOptions = QualityOptions(),
                  render_s: float | None = None, sound: SoundMemo | None = None) -> QualityReport:
    """measure_quality, then apply options.action: a failing video is removed and LowSyncQualityError raised.

    Raises:
        LowSyncQualityError: the video is below min_sync_r and the action is "fail".
    """
    report = measure_quality(video, options, render_s, sound)
    if report.passed or options.action == "review":
        return report
    Path(video).unlink(missing_ok=True)
    raise LowSyncQualityError(
        f"lip-sync below the gate ({report.figures()}); the video was not kept. Check that the "
        f"audio is the speech meant for this template, or set quality_action=review to keep such videos flagged")


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
