"""The engine's stages in order: prepare template -> analyse speech -> plan mouth -> render -> encode.

No maths here: each stage lives in its own module. Frames stream from the decoder through the renderer into
the encoder, each in its own thread with a few frames queued between them, so the stages overlap on several
cores and memory does not grow with the length of the audio.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .encode import VideoWriter, output_size
from .files import atomic_output
from .errors import AudioTooLongError, EmptyAudioError, InvalidOptionError, UnreadableInputError
from .media import MediaInfo, iter_frames, iter_pingpong_frames, iter_resampled, load_audio, probe
from .motion import MouthPlan, plan_from_features, plan_from_phonemes
from .options import GenerateOptions, Limits, TrackingOptions
from .progress import NEVER_CANCELED, CancelToken, Progress, no_progress
from .render.base import BatchMouthRenderer, MouthRenderer, choose_renderer
from .results import GenerateResult, PreparedTemplate, TemplateFacts
from .speech import ANALYSIS_RATE, analyse_hops, hop_features_stream
from .speech_types import AudioClip, SubtitleCue
from .stages import frames_for_the_encoder, in_thread, one_opencv_thread
from .still import animate_still
from .template_cache import MiddleFrame, TemplateCache, cache_key, content_hash
from .tracking import Tracks, template_summary, track_frames

if TYPE_CHECKING:
    from .quality import RenderedSample

logger = logging.getLogger(__name__)

FrameHook = Callable[[np.ndarray, float], np.ndarray]


def prepare_template(
    template: Path,
    *,
    cache_dir: Path | None = None,
    options: TrackingOptions = TrackingOptions(),
    limits: Limits = Limits(),
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELED,
) -> PreparedTemplate:
    """Track the face through a template once and cache the result by content hash.

    Args:
        template: a video (mp4/mov/webm/mkv) or a photo (jpg/png/webp).
        cache_dir: where prepared templates live (default: $FACECAST_CACHE_DIR or ~/.cache/facecast/templates).
        options: face choice and smoothing.
        limits: max_pixels and max_template_s, checked from the file's headers before anything is decoded.
    Returns:
        The prepared template; calling again with the same file and options returns the cached one at once.
    Raises:
        InputNotFoundError, UnreadableInputError, MediaTooLargeError, NoFaceError, FaceTooSmallError,
        CanceledError.
    """
    template = Path(template)
    return _prepare_probed(template, _probe_template_or_raise(template, limits), TemplateCache(cache_dir), options,
                           progress, cancel)


def generate(
    template: Path | PreparedTemplate,
    audio: Path | AudioClip,
    output: Path,
    options: GenerateOptions = GenerateOptions(),
    *,
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELED,
    subtitles: Sequence[SubtitleCue] = (),
    frame_hook: FrameHook | None = None,
    sample: RenderedSample | None = None,
) -> GenerateResult:
    """Lip-sync `audio` onto `template` and write an MP4; the output file appears only when complete.

    Args:
        template: a template file, or one already prepared (prepare_template, or a PreparedTemplate built from
            what a caller stored): then the file is not hashed again.
        audio: an audio (or video) file, or an AudioClip (decoded once and shared by a batch; may carry
            phoneme timings from a TTS engine).
        output: the MP4 to write. Written to a temporary file first and renamed on success.
        options: tracking, motion, render, encode options and input limits.
        progress: called as progress(stage, done, total).
        cancel: a CancelToken; cancel() from any thread stops within a frame and leaves no output.
        subtitles: cues written as a soft (player-selectable) subtitle track.
        frame_hook: called as frame_hook(frame, time_s) on every finished frame before encoding, e.g. to
            burn subtitles in; returns the frame to encode.
        sample: takes the quality gate's frames as they are written (quality.RenderedSample), for
            quality.measure_quality(output, sample=sample) once this returns.
    Returns:
        GenerateResult with the output's duration, size, fps and the renderer used.
    Raises:
        FacecastError subclasses for bad input (missing/corrupt files, no face, empty or too long audio).
    """
    output = Path(output)
    clip = audio if isinstance(audio, AudioClip) else load_audio(Path(audio), options.limits)
    _check_clip(clip, options)
    prepared, info = _prepared_and_probed(template, cache_dir, options, progress, cancel)
    _check_start_frame(prepared.facts, options)
    tracks = Tracks.load(prepared.cache_path / "tracks.npz")
    fps = prepared.facts.fps
    frame_count = max(1, int(round(clip.duration_s * fps)))
    plan = plan_mouth(clip, fps, frame_count, options)
    renderer = choose_renderer(prepared, tracks, plan, options.render, options.encode.start_frame, clip)
    width, height = output_size(prepared.facts.width, prepared.facts.height, options.encode.max_height)
    # Decode, render and encode overlap: each of the first two runs in its own thread (see stages.py).
    frames = in_thread(_template_frames(prepared, info, tracks, frame_count, options, (width, height)), "decode")
    rendered = in_thread(_rendered(frames, renderer, frame_hook, fps, cancel, sample), "render",
                         frames_for_the_encoder(width, height))
    logger.info("generating %s: %d frames at %.3f fps, %dx%d, renderer %s", output.name, frame_count, fps, width,
                height, renderer.name)
    with single_threaded_blas(), one_opencv_thread(), atomic_output(output) as temporary, contextlib.closing(rendered):
        try:
            if sample is not None:
                sample.begin(frame_count, fps)
            with VideoWriter(temporary, width, height, fps, clip, options.encode, subtitles, frame_count) as writer:
                _encode(rendered, writer, frame_count, progress, cancel)
        except BaseException:
            if sample is not None:
                sample.close(wait=True)  # the caller may end the process now: the gate's thread ends first
            raise
        finally:
            if sample is not None:
                sample.close()
    return GenerateResult(output=output, duration_s=frame_count / fps, frame_count=frame_count, width=width,
                          height=height, fps=fps, renderer=renderer.name)


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """BLAS threads spin against the encoder's threads for 100x100 matrices: 30x slower per solve here."""
    return _blas_libraries().limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_libraries() -> Any:
    """The process's BLAS libraries, found once: looking through every loaded library takes 2-13 ms, a video."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def plan_mouth(clip: AudioClip, fps: float, frame_count: int, options: GenerateOptions) -> MouthPlan:
    """Speech features per frame, then the mouth plan (from phonemes when the clip has them)."""
    # Streamed in 10 s chunks: a long (or memory-mapped) clip is never copied whole at 16 kHz.
    features = analyse_hops(hop_features_stream(iter_resampled(clip, ANALYSIS_RATE)), fps, frame_count)
    if clip.phonemes and options.motion.use_phonemes:
        return plan_from_phonemes(clip.phonemes, features, options.motion)
    return plan_from_features(features, options.motion)


def _probe_template_or_raise(template: Path, limits: Limits) -> MediaInfo:
    info = probe(template, limits)
    if info.kind == "audio":
        raise UnreadableInputError(f"{template.name} has no picture; a template must be a video or a photo")
    return info


def _prepare_probed(template: Path, info: MediaInfo, cache: TemplateCache, options: TrackingOptions,
                    progress: Progress, cancel: CancelToken) -> PreparedTemplate:
    """Load the template's tracks from the cache, or track every frame and store them there."""
    key = cache_key(content_hash(template), options)
    cached = cache.load(template, key)
    if cached is not None:
        logger.info("template %s already prepared (%s)", template.name, key[:12])
        return cached
    frames = MiddleFrame(iter_frames(template, info), info.frame_count // 2)
    tracks = track_frames(frames, info.frame_count, options, name=template.name, progress=progress, cancel=cancel)
    facts = _template_facts(info, tracks)
    logger.info("prepared %s: %d frames, face in %.0f%%, mouth range %.3f", template.name, tracks.frame_count,
                facts.face_coverage * 100, facts.mouth_range)
    return cache.store(template, key, tracks, facts, frames.kept)


def _prepared_and_probed(template: Path | PreparedTemplate, cache_dir: Path | None, options: GenerateOptions,
                         progress: Progress, cancel: CancelToken) -> tuple[PreparedTemplate, MediaInfo]:
    """The prepared template and its file's probe, probing the file once either way."""
    if isinstance(template, PreparedTemplate):
        return template, probe(template.source, options.limits)
    info = _probe_template_or_raise(Path(template), options.limits)
    prepared = _prepare_probed(Path(template), info, TemplateCache(cache_dir), options.tracking, progress, cancel)
    return prepared, info


def _template_facts(info: MediaInfo, tracks: Tracks) -> TemplateFacts:
    summary = template_summary(tracks)
    still = info.kind == "image"
    return TemplateFacts(
        width=info.width, height=info.height, fps=info.fps,  # a photo's probe gives media.IMAGE_FPS
        frame_count=tracks.frame_count, duration_s=info.duration_s, rotation=info.rotation,
        is_still=still, face_coverage=float(summary["face_coverage"]),
        mouth_range=float(summary["mouth_range"]), talking=bool(summary["talking"]) and not still,
    )


def _template_frames(prepared: PreparedTemplate, info: MediaInfo, tracks: Tracks, count: int,
                     options: GenerateOptions, size: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """The template's frames in playing order with their landmarks, at the output `size` (width, height).

    A template bigger than the output is scaled here, before the mouth is drawn, rather than by the encoder:
    drawn at the size it is shown, a mouth costs a quarter of the work at half the height, and looks the same.
    """
    facts = prepared.facts
    if facts.is_still:
        image = next(iter_frames(prepared.source, info))
        source = animate_still(image, tracks.points[0] if tracks.present[0] else None, count, facts.fps)
    else:
        source = ((frame, tracks.points[index] if tracks.present[index] else None)
                  for index, frame in iter_pingpong_frames(prepared.source, info, count, options.encode.start_frame,
                                                           options.encode.codec_threads))
    if size == (facts.width, facts.height):
        yield from source
        return
    scale = np.array([size[0] / facts.width, size[1] / facts.height], np.float32)
    for frame, points in source:
        yield cv2.resize(frame, size, interpolation=cv2.INTER_AREA), (points * scale if points is not None else None)


def _rendered(frames: Iterator[tuple[np.ndarray, np.ndarray | None]], renderer: MouthRenderer,
              frame_hook: FrameHook | None, fps: float, cancel: CancelToken,
              sample: RenderedSample | None) -> Iterator[np.ndarray]:
    """Each template frame with the planned mouth drawn in (where a face was tracked), then the hook; the
    gate's sample takes its frames here.

    A batch renderer gets its frames in chunks of its batch size; the others one at a time.
    """
    batch = renderer if isinstance(renderer, BatchMouthRenderer) else None  # a protocol check: once, not per frame
    chunk_size = batch.batch_size if batch is not None else 1
    index = 0
    with contextlib.closing(frames):  # stops the decoder's thread when rendering stops early
        while chunk := list(itertools.islice(frames, chunk_size)):
            cancel.raise_if_canceled()
            for (_, points), frame in zip(chunk, _render_chunk(renderer, batch, chunk, index)):
                if frame_hook is not None:
                    frame = frame_hook(frame, index / fps)
                if sample is not None:
                    sample.offer(index, frame, points)
                index += 1
                yield frame


def _render_chunk(renderer: MouthRenderer, batch: BatchMouthRenderer | None,
                  chunk: list[tuple[np.ndarray, np.ndarray | None]], first_index: int) -> list[np.ndarray]:
    """The chunk's frames with mouths drawn on those with a face: in one call when the renderer batches."""
    frames = [frame for frame, _ in chunk]
    faces = [(i, points) for i, (_, points) in enumerate(chunk) if points is not None]
    if not faces:
        return frames
    if batch is not None:
        drawn = batch.render_batch([frames[i] for i, _ in faces], [points for _, points in faces],
                                      [first_index + i for i, _ in faces])
    else:
        drawn = [renderer.render(frames[i], points, first_index + i) for i, points in faces]
    for (i, _), frame in zip(faces, drawn):
        frames[i] = frame
    return frames


def _encode(frames: Iterator[np.ndarray], writer: VideoWriter, frame_count: int, progress: Progress,
            cancel: CancelToken) -> None:
    """Write every frame, reporting progress; a cancel stops before the next frame (frames queued are dropped)."""
    for index, frame in enumerate(frames):
        cancel.raise_if_canceled()
        writer.write(frame)
        if index % 5 == 0 or index == frame_count - 1:
            progress("rendering", index + 1, frame_count)


def _check_start_frame(facts: TemplateFacts, options: GenerateOptions) -> None:
    if options.encode.start_frame >= facts.frame_count and not facts.is_still:
        raise InvalidOptionError(f"start_frame {options.encode.start_frame} is past the template's last frame "
                                 f"({facts.frame_count - 1})")


def _check_clip(clip: AudioClip, options: GenerateOptions) -> None:
    if len(clip.samples) == 0:
        raise EmptyAudioError("the audio is empty (0 samples); give a recording with speech, or silence of some length")
    if clip.duration_s > options.limits.max_audio_s:
        raise AudioTooLongError(f"the audio is {clip.duration_s:.0f} s long, over the limit of "
                                f"{options.limits.max_audio_s:.0f} s; split it or raise the max_audio_s limit")


__all__ = ["MediaInfo", "MouthRenderer", "generate", "plan_mouth", "prepare_template"]
