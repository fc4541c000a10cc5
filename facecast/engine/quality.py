"""The lip-sync gate: measure a finished video cheaply, then pass it, flag it for review or fail it.

The figures are `facecast eval`'s (evaluate.py), taken on the rendered output re-tracked, so they judge what
a viewer sees (the tracker is told only where the face was drawn in the first frame it takes). The tracker
runs eval's face mesh, its trunk and lips only, without mediapipe's graph (mesh_model.DirectMesh); still,
a frame costs a third to a half of rendering it, so only a sample is tracked: windows of a couple of seconds
spread over the video, every other frame, decoded from the keyframe before each window while the frames
before them are tracked. The tracked share shrinks with the length of the video so that the check stays
under a tenth of the render time; short videos are measured on a fixed minimum of frames, below which r says
little. A sample too small for two windows is taken in one run, one frame in up to six, to see more speech.

A video being generated is measured on its way to the file instead (RenderedSample): the same frames are
taken as they go to the encoder and tracked alongside the render, so the figures are ready with the file and
nothing is decoded again.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from .errors import FaceTooSmallError, LowSyncQualityError, NoFaceError
from .evaluate import (SampledOpenings, envelope_db, opening_travel, sample_windows, sampled_openings,
                       silence_closure_at, sound_digest, speech_levels, sync_correlation_at)
from .landmarks import FaceBox, box_from_points, shared_landmarker
from .options import QualityOptions, TrackingOptions
from .results import QualityReport
from .stages import yield_to_the_encoder
from .tracking import track_frames

logger = logging.getLogger(__name__)
T = TypeVar("T")

OFFSET_SEARCH_MS = (-800, 800)  # where the audio-vs-mouth offset is looked for; eval's r stays in -40..120
TRACKED_SHARE = 0.04   # share of the frames tracked: tracking one costs about one render of it
MIN_TRACKED = 14       # frames tracked at least, in one run over as much of a short video as one in 6 reaches.
                       # 24 renders of 3 s and 33 of 8-57 s (sun.mp4, talking_man, talking_woman x windows of
                       # eng.wav), each also with its sound 300 ms early and 400 ms late, judged from the file:
                       # 16 and 14 frames made the same 171 judgements (57 passed, 114 caught); on 3 s, r 0.038
                       # and 0.039 from all the frames' on average (at most 0.095 and 0.134). 14 frames blur the
                       # offset a little more (one 300 ms early measured 130 ms, caught by its r; at 16 frames all
                       # measured 210 ms or more), and r needs 10 frames with a face
SHORT_STRIDE = (2, 6)  # a one-run sample takes one frame in 2 to 6, to cover as much of the video as it can
MAX_TRACKED = 400      # enough for a stable r however long the video
SAMPLE_QUEUE = 8       # rendered frames waiting for the gate's tracker; the render waits when it is further behind
SAMPLE_MAX_HEIGHT = 1280  # taller frames are tracked on a smaller copy (the opening is a ratio: scale-free)


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


class RenderedSample:
    """The gate's sample of a video being generated, taken from its frames on their way to the encoder.

    generate() calls begin() once it knows the length, offer() with every finished frame (from its render
    thread) and close() when done. The wanted frames are kept and tracked on a thread of their own at the
    feeding stages' priority, so the tracking uses time the encoder leaves over and the figures are ready
    when the file is. The frames are the encoder's input, subtitles burned in included: what the file shows,
    before compression.
    """

    def __init__(self) -> None:
        self._frames: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=SAMPLE_QUEUE)
        self._wanted: frozenset[int] = frozenset()
        self._taken: list[int] = []
        self._tracked: np.ndarray | BaseException | None = None
        self._thread: threading.Thread | None = None
        self._fps, self._frame_count = 0.0, 0
        self._ended, self._closed, self._waited_s = False, False, 0.0
        self._start_box: FaceBox | None = None  # where the face is in the first frame taken, when known
        self.cost_s = 0.0  # CPU time spent scaling and tracking the sample (see _track)

    def begin(self, frame_count: int, fps: float) -> None:
        self._wanted = frozenset(index for window in gate_windows(frame_count, fps) for index in window)
        self._fps, self._frame_count = fps, frame_count
        self._thread = threading.Thread(target=self._track, name="facecast-gate", daemon=True)
        self._thread.start()

    def offer(self, index: int, frame: np.ndarray, points: np.ndarray | None = None) -> None:
        """Keep frame `index` when the gate wants it (waits while the tracker is SAMPLE_QUEUE behind). The frame
        itself is kept, not a copy: a rendered frame is never changed again (the encoder's queue holds it too).

        `points`: the landmarks the frame was drawn with. The first wanted frame's tell the tracker where to
        look, which spares it a face detection and a mesh on the whole face; what it measures still comes from
        the frame's own pixels.
        """
        if index not in self._wanted or self._thread is None:
            return
        started = time.thread_time()
        scale = min(1.0, SAMPLE_MAX_HEIGHT / frame.shape[0])
        taken = frame if scale == 1.0 else cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if not self._taken and points is not None and np.isfinite(points).all():
            self._start_box = box_from_points(points * scale)
        self.cost_s += time.thread_time() - started
        self._taken.append(index)
        self._put(taken)

    def close(self, wait: bool = False) -> None:
        """No more frames: the tracker finishes what it has (also after a failed or canceled render). With
        `wait`, return once it has: a process that ends on an error must not leave it inside mediapipe's native
        code (loading its models, or tracking), where finalising Python can crash it on the way out."""
        if not self._ended:
            self._ended = True
            self._put(None)
        if wait and self._thread is not None:
            self._thread.join()

    def openings(self) -> SampledOpenings:
        """The raw openings of the frames offered; waits for the tracker. Raises what the tracker raised."""
        self.close()
        if self._thread is not None:
            self._thread.join()
        if isinstance(self._tracked, BaseException):
            raise self._tracked
        times = (np.asarray(self._taken, dtype=np.float64) + 0.5) / max(self._fps, 1e-6)
        openings = self._tracked if self._tracked is not None else np.full(len(self._taken), np.nan)
        return SampledOpenings(times, openings, self._frame_count)

    def _put(self, item: np.ndarray | None) -> None:
        while self._thread is not None and self._thread.is_alive():
            try:
                self._frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _track(self) -> None:
        """Track the wanted frames as they come. The cost counted is the CPU time the landmarker spent on them
        (its graph threads included), not the wall time: this thread yields to the render, so it waits for a
        core most of the time. Where the system cannot tell a thread's CPU time, the wall time is counted."""
        yield_to_the_encoder()
        started, cpu_before, landmarker = time.monotonic(), None, None
        try:
            landmarker = shared_landmarker()
            landmarker.ready_to_follow()  # loaded while the first frames render, where a process has it not yet
            started, cpu_before = time.monotonic(), landmarker.cpu_s()  # loading is not counted
            frames = self._frames_until_closed()
            first = next(frames, None)  # offer() has set the start box (or left it unknown) by now
            self._tracked = track_frames(itertools.chain([first], frames) if first is not None else frames,
                                         len(self._wanted), TrackingOptions(smoothing=0.0),
                                         name="the rendered video", mesh="direct",
                                         start_box=self._start_box).openings()
        except (NoFaceError, FaceTooSmallError):
            self._tracked = None  # no face seen: the figures are unknown and the video does not pass
        except BaseException as error:  # noqa: BLE001 - raised again by openings() in the caller's thread
            self._tracked = error
        finally:
            for _ in self._frames_until_closed():  # after an error: take the rest, so the render never waits
                pass
        cpu_after = landmarker.cpu_s() if landmarker is not None else None
        if cpu_before is not None and cpu_after is not None:
            self.cost_s += cpu_after - cpu_before
        else:
            self.cost_s += time.monotonic() - started - self._waited_s

    def _frames_until_closed(self) -> Iterator[np.ndarray]:
        while not self._closed:
            waiting = time.monotonic()
            frame = self._frames.get()
            self._waited_s += time.monotonic() - waiting
            if frame is None:
                self._closed = True
                return
            yield frame


def measure_quality(video: Path, options: QualityOptions = QualityOptions(), render_s: float | None = None,
                    sound: SoundMemo | None = None, sample: RenderedSample | None = None) -> QualityReport:
    """Lip-sync figures of a finished video against its own audio track, from a sample of its frames.

    Args:
        video: an MP4 written by generate (it carries the speech it was made from).
        options: the threshold applied.
        render_s: how long the render took, to report what the check cost next to it (loading the face
            models, once per process, is not counted).
        sound: where the videos of one batch share their sound track's analysis.
        sample: the frames generate() sampled while writing `video` (else they are decoded from it). Its
            tracking ran alongside the render: the CPU time it spent on frames is counted in measure_s.
    Returns:
        The report; `passed` is False when no face was found in the sample, since sync is then unknown.
    """
    if sample is None:
        shared_landmarker().ready_to_follow()  # loaded once per process; not counted: a worker pays it once
    started, tracker_s = time.monotonic(), 0.0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facecast-gate-audio") as pool:
        speech = pool.submit(_timed, sound.levels if sound else speech_levels, video)  # beside the frames
        if sample is not None:
            taken = sample.openings()
            tracker_s = time.monotonic() - started  # waiting for the tracker: its CPU time is counted instead
        else:
            taken = sampled_openings(video, gate_windows)
        (samples, level), speech_s = speech.result()
    times, openings = taken.times, taken.openings
    envelope = envelope_db(samples, level)
    r, lag = sync_correlation_at(times, openings, envelope)
    _, offset = sync_correlation_at(times, openings, envelope, OFFSET_SEARCH_MS)
    closed, _ = silence_closure_at(times, openings, samples, level)
    travel = opening_travel(openings)
    valid = openings[~np.isnan(openings)]
    measure_s = time.monotonic() - started - tracker_s + min(speech_s, tracker_s)
    if sample is not None:
        measure_s += sample.cost_s
    report = QualityReport(
        sync_r=_finite(r), sync_lag_ms=_finite(lag), offset_ms=_finite(offset), closed_in_silence=_finite(closed),
        travel=_finite(travel),
        face_coverage=float(len(valid) / max(len(openings), 1)), frames_measured=len(openings),
        frame_count=taken.frame_count, measure_s=measure_s,
        cost_ratio=measure_s / render_s if render_s else None, min_sync_r=options.min_sync_r,
        max_offset_ms=options.max_offset_ms,
        passed=r >= options.min_sync_r and abs(offset) <= options.max_offset_ms)  # False for NaN
    logger.info("%s: %s (%d of %d frames in %.2f s)", video.name, report.summary(), report.frames_measured,
                report.frame_count, measure_s)
    return report


def gate_windows(frame_count: int, fps: float) -> list[range]:
    """The frames of a video the gate tracks: a long video's share in windows of every other frame spread over
    it; a sample that would fit in one such window (under about 38 s at 25 fps) in one run of one frame in up
    to SHORT_STRIDE instead, over as much of the video as that reaches. One window of 1-3 s may sit in a pause,
    and split in two, each half of a short video's sample holds too few frames in speech to tell a 300 ms
    offset from chance."""
    tracked = tracked_count(frame_count)
    windows = sample_windows(frame_count, fps, tracked, stride=2)
    if len(windows) > 1:
        return windows
    stride = int(np.clip(frame_count // tracked, *SHORT_STRIDE))
    return sample_windows(frame_count, fps, tracked, stride, window_s=frame_count / fps)


def tracked_count(frame_count: int) -> int:
    """How many frames of a video the gate tracks."""
    return int(np.clip(TRACKED_SHARE * frame_count, MIN_TRACKED, MAX_TRACKED))


def gate_or_raise(video: Path, options: QualityOptions = QualityOptions(), render_s: float | None = None,
                  sound: SoundMemo | None = None, sample: RenderedSample | None = None) -> QualityReport:
    """measure_quality, then apply options.action: a failing video is removed and LowSyncQualityError raised.

    Raises:
        LowSyncQualityError: the video is below min_sync_r and the action is "fail".
    """
    report = measure_quality(video, options, render_s, sound, sample)
    if report.passed or options.action == "review":
        return report
    Path(video).unlink(missing_ok=True)
    raise LowSyncQualityError(
        f"lip-sync below the gate ({report.figures()}); the video was not kept. Check that the "
        f"audio is the speech meant for this template, or set quality_action=review to keep such videos flagged")


def _timed(function: Callable[[Path], T], path: Path) -> tuple[T, float]:
    started = time.monotonic()
    return function(path), time.monotonic() - started


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
