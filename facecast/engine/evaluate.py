"""Measure lip-sync: re-track a generated video and compare its mouth with the speech and the template.

Metrics (all mouth sizes are inner-lip gap / face height):
  sync_r / sync_lag_ms  Pearson r between mouth opening and the speech energy envelope (dB above the noise
                        floor + 6 dB) at the best lag in
                        -40..+120 ms (positive: the audio comes after the picture), and that lag.
  closed_in_silence     share of frames inside pauses of 300 ms or more where the mouth is closed (opening below
                        the video's 5th percentile + 0.02).
  travel                90th minus 10th percentile of the opening.
  psnr_outside_db       PSNR against the template outside a lower-face mask, beside plain_psnr_outside_db, the
                        same for a plain decode + re-encode with the same encoder settings.
  bilabial_closed       with phoneme timings (text-to-video): share of /p b m/ with a closed mouth within
                        +-40 ms. Audio-only metrics cannot see this: a bilabial is short and quiet.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from .blend import lower_face_mask_full
from .encode import encode_frames
from .errors import FaceTooSmallError, NoFaceError
from .files import atomic_output
from .landmarks import CHIN, FOREHEAD, face_height
from .media import decoding, iter_frames, iter_pingpong_frames, load_audio, probe, resample_audio
from .options import EncodeOptions, TrackingOptions
from .speech_types import PhonemeTiming
from .speech import ANALYSIS_RATE, HOP_RATE, hop_features, loudness_from_level, pause_mask
from .stages import in_thread
from .tracking import Tracks, track_frames

LAG_RANGE_MS = (-40, 120)
CLOSED_MARGIN = 0.02
PAUSE_EDGE_S = 0.06   # ignore the first and last 60 ms of a pause: the mouth is still closing or opening


@dataclass(frozen=True, slots=True)
class LipSyncReport:
    frames: int
    face_coverage: float
    sync_r: float
    sync_lag_ms: float
    closed_in_silence: float
    silence_frames: int
    travel: float
    psnr_outside_db: float | None = None
    plain_psnr_outside_db: float | None = None
    bilabial_closed: float | None = None

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def measure_openings(video: Path) -> tuple[Tracks, np.ndarray, float]:
    """Raw (unsmoothed) landmarks of a video, the opening per frame (NaN without a face) and its fps."""
    info = probe(video)
    tracks = track_frames(iter_frames(video, info), info.frame_count, TrackingOptions(smoothing=0.0), name=video.name,
                          mesh="following")
    return tracks, tracks.openings(), info.fps


def envelope_db(audio_16k: np.ndarray, level_db: np.ndarray | None = None) -> np.ndarray:
    """Speech energy envelope per 10 ms hop, in dB, smoothed over 30 ms.

    Floored 6 dB above the recording's noise floor (its 5th percentile): no mouth should follow the
    fluctuations of background noise in the pauses. `level_db`: the audio's hop levels, when already known.
    """
    level = hop_features(audio_16k).level_db if level_db is None else level_db
    level = np.convolve(level, np.ones(3) / 3, mode="same")
    return np.maximum(level, np.percentile(level, 5) + 6.0)


def sync_correlation(openings: np.ndarray, fps: float, envelope: np.ndarray) -> tuple[float, float]:
    """Best Pearson r between opening and envelope over lags in LAG_RANGE_MS (10 ms steps), and that lag."""
    hop_times = np.arange(len(envelope)) / HOP_RATE
    frame_times = (np.arange(len(openings)) + 0.5) / fps
    valid = ~np.isnan(openings)
    if valid.sum() < 10:
        return float("nan"), float("nan")
    opening_at_hops = np.interp(hop_times, frame_times[valid], openings[valid])
    best = (-2.0, 0.0)
    for lag_ms in range(LAG_RANGE_MS[0], LAG_RANGE_MS[1] + 1, 10):
        shift = lag_ms // 10  # audio later than video: compare picture at t with sound at t + lag
        if shift >= 0:
            a, b = opening_at_hops[: len(envelope) - shift], envelope[shift:]
        else:
            a, b = opening_at_hops[-shift:], envelope[: len(envelope) + shift]
        if len(a) > 10 and np.std(a) > 0 and np.std(b) > 0:
            r = float(np.corrcoef(a, b)[0, 1])
            if r > best[0]:
                best = (r, float(lag_ms))
    return best


def silence_closure(openings: np.ndarray, fps: float, audio_16k: np.ndarray) -> tuple[float, int]:
    """Share of frames inside pauses >= 300 ms with a closed mouth, and how many such frames there were."""
    return silence_closure_at(frame_times(len(openings), fps), openings, audio_16k)


def silence_closure_at(times: np.ndarray, openings: np.ndarray, audio_16k: np.ndarray,
                       level_db: np.ndarray | None = None) -> tuple[float, int]:
    """silence_closure for openings measured at the given times (seconds), e.g. a sample of the frames.
    `level_db`: the audio's hop levels, when already known (envelope_db takes them too)."""
    loudness = loudness_from_level(hop_features(audio_16k).level_db if level_db is None else level_db)
    pauses = pause_mask(loudness, min_hops=30)
    edge = int(PAUSE_EDGE_S * HOP_RATE)
    eroded = pauses.copy()
    for offset in range(1, edge + 1):
        eroded[offset:] &= pauses[:-offset]
        eroded[:-offset] &= pauses[offset:]
    valid = ~np.isnan(openings)
    if valid.sum() == 0:
        return float("nan"), 0
    threshold = closed_threshold_for(openings)
    centres = (np.asarray(times) * HOP_RATE).astype(int)
    inside = np.zeros(len(openings), bool)
    ok = centres < len(eroded)
    inside[ok] = eroded[centres[ok]]
    inside &= valid
    if inside.sum() == 0:
        return float("nan"), 0
    return float((openings[inside] <= threshold).mean()), int(inside.sum())


def frame_times(count: int, fps: float) -> np.ndarray:
    """The middle of each of `count` frames, in seconds."""
    return (np.arange(count) + 0.5) / fps


# --- sampled measuring: a few windows of a long video, every other frame, decoded from nearby keyframes ------------


def sample_windows(frame_count: int, fps: float, tracked: int, stride: int = 2,
                   window_s: float = 2.0) -> list[range]:
    """Frame indices to track: `tracked` frames (every `stride`-th) in windows of window_s spread evenly.

    Windows, not single frames: the correlation needs the mouth to move through syllables and pauses.
    """
    span = min(frame_count, tracked * stride)
    count = max(1, round(span / max(window_s * fps, stride)))
    window = span // count
    gap = (frame_count - count * window) / count
    starts = [int(round(gap / 2 + k * (window + gap))) for k in range(count)]
    return [range(start, min(start + window, frame_count), stride) for start in starts]


@dataclass(frozen=True, slots=True)
class SampledOpenings:
    """Openings of a sample of a video's frames, and how many frames the video has."""

    times: np.ndarray      # seconds, the middle of each tracked frame
    openings: np.ndarray   # raw inner-lip gap / face height; NaN without a face
    frame_count: int


WindowPicker = Callable[[int, float], Sequence[range]]  # (frame count, fps) -> ascending windows of frame numbers


def sampled_openings(video: Path, pick: WindowPicker, max_height: int = 1280) -> SampledOpenings:
    """Raw openings of the frames `pick` chooses, tracked on copies at most max_height tall (the opening is a
    ratio, so the scale does not change it).

    The frame count and rate come from the packet index read for seeking, so nothing is decoded twice, and
    frames are decoded in a thread of their own while the previous ones are tracked. Frames up to 1280 px tall
    are tracked as decoded: the landmarker cuts and scales the face out of the frame itself, so a smaller copy
    first would cost a resize per frame and lose detail."""
    with decoding(video) as container:
        stream = container.streams.video[0]
        keyframes, frame_count = _packet_index(container, stream)
        wanted = [index for window in pick(frame_count, _stream_rate(stream)) for index in window]
        taken: list[int] = []
        scale = min(1.0, max_height / max(stream.height, 1))
        frames = in_thread(_frames_at(container, stream, keyframes, wanted, scale, taken), "sample-decode",
                           DECODE_AHEAD)
        with contextlib.closing(frames):
            try:
                openings = track_frames(frames, len(wanted), TrackingOptions(smoothing=0.0), name=video.name,
                                        mesh="direct").openings()
            except (NoFaceError, FaceTooSmallError):
                openings = np.full(len(taken), np.nan)
        times = (np.asarray(taken, dtype=np.float64) + 0.5) / _stream_rate(stream)
    return SampledOpenings(times, openings, frame_count)


def _frames_at(container: object, stream: object, keyframes: Sequence[int], wanted: Sequence[int], scale: float,
               taken: list[int]) -> Iterator[np.ndarray]:
    """Frames number `wanted` (ascending) as RGB scaled by `scale`, appending each number to `taken`.

    Decoding, not tracking, is most of the cost on a long video: before each run of wanted frames the decoder
    jumps to the last keyframe at or before it (from the packet index, without decoding) when that is
    ahead of where it is, so only a keyframe interval or so is decoded per window, and only wanted frames
    are converted. Pictures no other frame refers to are not decoded at all unless wanted.
    """
    pending = list(wanted)
    stream.thread_type = "AUTO"  # type: ignore[attr-defined]
    # The deblocking filter smooths block edges for viewers; the landmarks do not need it (15% of decoding).
    stream.codec_context.options = {"skip_loop_filter": "all"}  # type: ignore[attr-defined]
    size = (int(stream.width * scale) // 2 * 2, int(stream.height * scale) // 2 * 2)  # type: ignore[attr-defined]
    to_index = _frame_indexer(stream, keyframes[0] if keyframes else 0)
    wanted_set = set(wanted)
    position = 0  # index of the next frame the decoder yields
    while pending:
        jump = max((pts for pts in keyframes if to_index(pts) <= pending[0]), default=None)
        if jump is not None and to_index(jump) > position:
            container.seek(jump, stream=stream, backward=True)  # type: ignore[attr-defined]
        for frame in _decoded(container, stream, lambda pts: to_index(pts) in wanted_set):
            index = to_index(frame.pts) if frame.pts is not None else position
            position = index + 1
            if pending and index > pending[0]:
                pending = [i for i in pending if i > index]  # a frame the stream does not have
            if pending and index == pending[0]:
                taken.append(pending.pop(0))
                yield _rgb_scaled(frame, size)
                if pending and pending[0] - position > _SEEK_AHEAD_FRAMES:
                    break  # a gap: jump ahead instead of decoding through it
            if not pending:
                return
        else:
            return


def _decoded(container: object, stream: object, wanted: Callable[[int], bool]) -> Iterator[object]:
    """container.decode(stream), less the H.264 pictures that no other frame refers to and `wanted` (given a
    packet's pts) does not want: dropping those changes no other frame."""
    context = stream.codec_context  # type: ignore[attr-defined]
    extradata = context.extradata or b""
    # MP4 carries H.264 as NAL units behind 4-byte lengths (avcC, lengthSizeMinusOne = 3)
    droppable = context.name == "h264" and len(extradata) > 4 and extradata[0] == 1 and extradata[4] & 3 == 3
    for packet in container.demux(stream):  # type: ignore[attr-defined]
        if (droppable and packet.pts is not None and not packet.is_keyframe and not wanted(packet.pts)
                and _unreferenced(bytes(packet))):
            continue
        yield from packet.decode()


def _unreferenced(data: bytes) -> bool:
    """Whether an H.264 access unit (4-byte length before each NAL unit) is a picture no other refers to:
    it has slices, and each has nal_ref_idc 0."""
    offset, slices = 0, 0
    while offset + 4 < len(data):
        header = data[offset + 4]
        if header & 0x1F in (1, 5):  # a coded slice
            if header & 0x60:
                return False
            slices += 1
        offset += 4 + int.from_bytes(data[offset:offset + 4], "big")
    return slices > 0


def _rgb_scaled(frame: object, size: tuple[int, int]) -> np.ndarray:
    """A decoded frame as RGB at `size`. generate writes yuv420p with OpenCV's conversion: its inverse is
    exact for those and ten times cheaper than FFmpeg's reformat; other formats go through FFmpeg."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:  # type: ignore[attr-defined]
        rgb = cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)  # type: ignore[attr-defined]
    else:
        rgb = frame.to_ndarray(format="rgb24")  # type: ignore[attr-defined]
    if (rgb.shape[1], rgb.shape[0]) != size:
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return rgb


_SEEK_AHEAD_FRAMES = 30  # a gap in the wanted frames longer than this is jumped over when a keyframe allows
DECODE_AHEAD = 12  # sampled frames decoded ahead of tracking (at most 33 MB at 720p): the decoder works through
                   # the gap before the next window while the frames before it are tracked


def _packet_index(container: object, stream: object) -> tuple[list[int], int]:
    """Presentation timestamps of the stream's keyframes, ascending, and its number of frames, from its
    packets (nothing is decoded)."""
    keyframes: list[int] = []
    count = 0
    for packet in container.demux(stream):  # type: ignore[attr-defined]
        if packet.size:
            count += 1
            if packet.is_keyframe and packet.pts is not None:
                keyframes.append(packet.pts)
    container.seek(0)  # type: ignore[attr-defined]
    return sorted(keyframes), count


def _stream_rate(stream: object) -> float:
    """Frames per second of a constant-rate stream (generate's output)."""
    return float(stream.average_rate or stream.guessed_rate)  # type: ignore[attr-defined]


def _frame_indexer(stream: object, first_pts: int) -> Callable[[int], int]:
    """pts -> frame number of a constant-rate stream whose first frame is at `first_pts` (generate's output)."""
    step = float(stream.time_base) * _stream_rate(stream)  # type: ignore[attr-defined]
    return lambda pts: int(round((pts - first_pts) * step))


def sync_correlation_at(times: np.ndarray, openings: np.ndarray, envelope: np.ndarray,
                        lag_range_ms: tuple[int, int] = LAG_RANGE_MS) -> tuple[float, float]:
    """sync_correlation for openings measured at the given times (seconds), e.g. a sample of the frames.

    Every lag (10 ms steps) is scored in one pass over a lags x frames table: the gate searches 160 of them.
    """
    valid = ~np.isnan(openings)
    times, openings = np.asarray(times)[valid], openings[valid]
    if len(openings) < 10 or np.std(openings) == 0:
        return float("nan"), float("nan")
    lags = np.arange(lag_range_ms[0], lag_range_ms[1] + 1, 10)
    hops = np.round((times[None, :] + lags[:, None] / 1000.0) * HOP_RATE).astype(int)
    inside = ((hops >= 0) & (hops < len(envelope))).astype(np.float64)
    sound = envelope[np.clip(hops, 0, len(envelope) - 1)]
    count = inside.sum(axis=1)
    safe = np.maximum(count, 1)
    picture = (openings[None, :] - (inside * openings).sum(axis=1, keepdims=True) / safe[:, None]) * inside
    heard = (sound - (inside * sound).sum(axis=1, keepdims=True) / safe[:, None]) * inside
    spread = np.sqrt((picture**2).sum(axis=1) * (heard**2).sum(axis=1))
    usable = (count > 10) & (spread > 1e-12)
    if not usable.any():
        return float("nan"), float("nan")
    r = np.where(usable, (picture * heard).sum(axis=1) / np.where(usable, spread, 1.0), -np.inf)
    best = int(np.argmax(r))  # the first of equal scores: the lag nearest the range's start
    return float(r[best]), float(lags[best])


def analysis_samples(path: Path) -> np.ndarray:
    """The speech of an audio or video file at the analysis rate, as every measure here reads it."""
    clip = load_audio(path)
    return resample_audio(clip, ANALYSIS_RATE) if clip.sample_rate != ANALYSIS_RATE else clip.samples


def speech_levels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """analysis_samples of a file and their hop levels (dB), which envelope_db and silence_closure_at share."""
    samples = analysis_samples(path)
    return samples, hop_features(samples).level_db


def sound_digest(path: Path) -> bytes:
    """A digest of a file's first sound track as encoded (its packets and their times; nothing is decoded):
    equal digests mean equal sound. Empty when the file has no sound track."""
    with decoding(path) as container:
        if not container.streams.audio:
            return b""
        stream = container.streams.audio[0]
        digest = hashlib.blake2b(f"{stream.codec_context.name}/{stream.time_base}".encode(), digest_size=16)
        for packet in container.demux(stream):
            digest.update(f"{packet.pts}/{packet.size}".encode())
            digest.update(bytes(packet))
    return digest.digest()


def opening_travel(openings: np.ndarray) -> float:
    """How far the mouth moves: 90th - 10th percentile of the tracked openings (NaN with none tracked)."""
    valid = openings[~np.isnan(openings)]
    return float(np.percentile(valid, 90) - np.percentile(valid, 10)) if len(valid) else float("nan")


def evaluate(video: Path, audio: Path | None = None, template: Path | None = None, start_frame: int = 0,
             encode: EncodeOptions = EncodeOptions(),
             phonemes: Sequence[PhonemeTiming] = ()) -> tuple[LipSyncReport, Tracks]:
    """All metrics for a generated video. `audio` defaults to the video's own track; `template` enables PSNR."""
    tracks, openings, fps = measure_openings(video)
    samples = analysis_samples(audio or video)
    r, lag = sync_correlation(openings, fps, envelope_db(samples))
    closed, silence_frames = silence_closure(openings, fps, samples)
    travel = opening_travel(openings)
    psnr = plain = None
    if template is not None and probe(template).kind == "video":
        psnr, plain = psnr_outside_lower_face(video, template, tracks, start_frame, encode)
    report = LipSyncReport(frames=len(openings), face_coverage=tracks.coverage, sync_r=r, sync_lag_ms=lag,
                           closed_in_silence=closed, silence_frames=silence_frames, travel=travel,
                           psnr_outside_db=psnr, plain_psnr_outside_db=plain,
                           bilabial_closed=bilabial_closure_rate(phonemes, openings, fps) if phonemes else None)
    return report, tracks


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


def psnr_outside_lower_face(video: Path, template: Path, tracks: Tracks, start_frame: int,
                            encode: EncodeOptions) -> tuple[float, float]:
    """PSNR of the generated video and of a plain re-encode against the template, outside the lower face."""
    info = probe(template)
    count = tracks.frame_count
    with tempfile.TemporaryDirectory() as scratch:
        plain_path = Path(scratch) / "plain.mp4"
        frames = (frame for _, frame in iter_pingpong_frames(template, info, count, start_frame))
        encode_frames(frames, plain_path, info.width, info.height, info.fps, None, encode)
        generated_info, plain_info = probe(video), probe(plain_path)
        squared = {"generated": 0.0, "plain": 0.0}
        pixels = 0
        sources = zip(iter_pingpong_frames(template, info, count, start_frame), iter_frames(video, generated_info),
                      iter_frames(plain_path, plain_info))
        for index, ((_, original), generated, plain) in enumerate(sources):
            if generated.shape != original.shape:
                generated = cv2.resize(generated, (original.shape[1], original.shape[0]), interpolation=cv2.INTER_AREA)
            if tracks.present[index]:
                keep = ~lower_face_mask_full(tracks.points[index], original.shape[:2])
            else:
                keep = np.ones(original.shape[:2], bool)
            reference = original[keep].astype(np.float32)
            squared["generated"] += float(((generated[keep].astype(np.float32) - reference) ** 2).sum())
            squared["plain"] += float(((plain[keep].astype(np.float32) - reference) ** 2).sum())
            pixels += reference.size
    return tuple(10 * np.log10(255.0**2 / max(squared[k] / max(pixels, 1), 1e-10)) for k in ("generated", "plain"))


def contact_sheet(video: Path, tracks: Tracks, template: Path | None, output: Path, start_frame: int = 0) -> Path:
    """A PNG: the template's frame, then generated frames at the most closed and most open moments."""
    openings = tracks.openings()
    valid = np.where(~np.isnan(openings))[0]
    if len(valid) == 0:
        raise ValueError("no face in the generated video")
    order = valid[np.argsort(openings[valid])]
    picks = list(order[:2]) + list(order[len(order) // 2: len(order) // 2 + 1]) + list(order[-3:])
    picks_set = set(int(p) for p in picks)
    wanted: dict[int, np.ndarray] = {}
    for index, frame in enumerate(iter_frames(video, probe(video))):
        if index in picks_set:
            wanted[index] = frame
        if len(wanted) == len(picks_set):
            break
    tiles: list[np.ndarray] = []
    if template is not None:
        first = next(iter_frames(template, probe(template), start=start_frame if probe(template).kind == "video" else 0))
        tiles.append(_face_tile(first, tracks.points[picks[0]], "template"))
    for index in picks:
        tiles.append(_face_tile(wanted[int(index)], tracks.points[int(index)], f"#{int(index)} open {openings[int(index)]:.3f}"))
    sheet = np.hstack(tiles)
    with atomic_output(output) as temporary:  # keeps the suffix, from which OpenCV picks the format
        cv2.imwrite(str(temporary), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return output


def _face_tile(frame: np.ndarray, points: np.ndarray, label: str, size: int = 256) -> np.ndarray:
    fh = face_height(points)
    centre = (points[FOREHEAD] + points[CHIN]) / 2 + (points[CHIN] - points[FOREHEAD]) * 0.12
    half = fh * 0.62
    x0, y0 = int(centre[0] - half), int(centre[1] - half)
    matrix = np.float32([[size / (2 * half), 0, -x0 * size / (2 * half)], [0, size / (2 * half), -y0 * size / (2 * half)]])
    tile = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    cv2.putText(tile, label, (6, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return tile
