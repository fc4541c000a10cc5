"""The engine's stages in order: prepare template -> analyse speech -> plan mouth -> render -> encode.

No maths here: each stage lives in its own module. Frames stream from the decoder through the renderer into
the encoder one at a time, so memory does not grow with the length of the audio.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from .encode import VideoWriter, atomic_output, output_size
from .errors import AudioTooLongError, EmptyAudioError, InvalidOptionError, UnreadableInputError
from .media import MediaInfo, iter_frames, iter_pingpong_frames, iter_resampled, load_audio, probe
from .motion import MouthPlan, plan_from_features, plan_from_phonemes
from .options import GenerateOptions, TrackingOptions
from .progress import NEVER_CANCELED, CancelToken, Progress, no_progress
from .render.base import MouthRenderer, choose_renderer
from .results import GenerateResult, PreparedTemplate, TemplateFacts
from .speech import ANALYSIS_RATE, analyse_hops, hop_features_stream
from .speech_types import AudioClip, SubtitleCue
from .still import animate_still
from .tracking import TRACKS_VERSION, Tracks, template_summary, track_frames, write_json

logger = logging.getLogger(__name__)

STILL_FPS = 25.0
FrameHook = Callable[[np.ndarray, float], np.ndarray]


def default_cache_dir() -> Path:
    """Where template tracks are cached unless a caller says otherwise ($FACECAST_CACHE_DIR)."""
    env = os.environ.get("FACECAST_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "facecast" / "templates"


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_template(
    template: Path,
    *,
    cache_dir: Path | None = None,
    options: TrackingOptions = TrackingOptions(),
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER_CANCELED,
) -> PreparedTemplate:
    """Track the face through a template once and cache the result by content hash.

    Args:
        template: a video (mp4/mov/webm/mkv) or a photo (jpg/png/webp).
        cache_dir: where prepared templates live (default: $FACECAST_CACHE_DIR or ~/.cache/facecast/templates).
        options: face choice and smoothing.
    Returns:
        The prepared template; calling again with the same file and options returns the cached one at once.
    Raises:
        InputNotFoundError, UnreadableInputError, NoFaceError, FaceTooSmallError, CanceledError.
    """
    template = Path(template)
    info = probe(template)
    if info.kind == "audio":
        raise UnreadableInputError(f"{template.name} has no picture; a template must be a video or a photo")
    key = _cache_key(template, options)
    cache_root = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_path = cache_root / key
    if (cache_path / "facts.json").exists():
        logger.info("template %s already prepared (%s)", template.name, key[:12])
        return _load_prepared(template, key, cache_path)

    thumbnail: dict[str, np.ndarray] = {}
    wanted_thumbnail = info.frame_count // 2

    def frames_keeping_thumbnail() -> Iterator[np.ndarray]:
        for index, frame in enumerate(iter_frames(template, info)):
            if index == wanted_thumbnail:
                thumbnail["frame"] = frame
            yield frame

    tracks = track_frames(frames_keeping_thumbnail(), info.frame_count, options, name=template.name,
                          progress=progress, cancel=cancel)
    summary = template_summary(tracks)
    facts = TemplateFacts(
        width=info.width, height=info.height, fps=STILL_FPS if info.kind == "image" else info.fps,
        frame_count=tracks.frame_count, duration_s=info.duration_s, rotation=info.rotation,
        is_still=info.kind == "image", face_coverage=float(summary["face_coverage"]),
        mouth_range=float(summary["mouth_range"]), talking=bool(summary["talking"]) and info.kind != "image",
    )
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=cache_root))
    try:
        tracks.save(staging / "tracks.npz")
        frame = thumbnail.get("frame")
        if frame is not None:
            _write_thumbnail(frame, staging / "thumbnail.jpg")
        write_json(staging / "facts.json", {"source": template.name, "facts": _facts_to_dict(facts)})
        try:
            staging.rename(cache_path)  # atomic: another worker may have finished first, which is fine
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("prepared %s: %d frames, face in %.0f%%, mouth range %.3f", template.name, tracks.frame_count,
                facts.face_coverage * 100, facts.mouth_range)
    return PreparedTemplate(source=template, content_hash=key, cache_path=cache_path, facts=facts)


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
) -> GenerateResult:
    """Lip-sync `audio` onto `template` and write an MP4; the output file appears only when complete.

    Args:
        template: a template file, or one already prepared with prepare_template.
        audio: an audio (or video) file, or an AudioClip (decoded once and shared by a batch; may carry
            phoneme timings from a TTS engine).
        output: the MP4 to write. Written to a temporary file first and renamed on success.
        options: tracking, motion, render, encode options and input limits.
        progress: called as progress(stage, done, total).
        cancel: a CancelToken; cancel() from any thread stops within a frame and leaves no output.
        subtitles: cues written as a soft (player-selectable) subtitle track.
        frame_hook: called as frame_hook(frame, time_s) on every finished frame before encoding, e.g. to
            burn subtitles in; returns the frame to encode.
    Returns:
        GenerateResult with the output's duration, size, fps and the renderer used.
    Raises:
        FacecastError subclasses for bad input (missing/corrupt files, no face, empty or too long audio).
    """
    output = Path(output)
    clip = audio if isinstance(audio, AudioClip) else load_audio(Path(audio), options.limits)
    _check_clip(clip, options)
    prepared = template if isinstance(template, PreparedTemplate) else prepare_template(
        Path(template), cache_dir=cache_dir, options=options.tracking, progress=progress, cancel=cancel)
    facts = prepared.facts
    if options.encode.start_frame >= facts.frame_count and not facts.is_still:
        raise InvalidOptionError(f"start_frame {options.encode.start_frame} is past the template's last frame "
                                 f"({facts.frame_count - 1})")
    tracks = Tracks.load(prepared.cache_path / "tracks.npz")
    fps = facts.fps
    frame_count = max(1, int(round(clip.duration_s * fps)))

    plan = plan_mouth(clip, fps, frame_count, options)
    renderer = choose_renderer(prepared, tracks, plan, options.render, options.encode.start_frame)
    width, height = output_size(facts.width, facts.height, options.encode.max_height)
    logger.info("generating %s: %d frames at %.3f fps, %dx%d, renderer %s", output.name, frame_count, fps, width,
                height, renderer.name)
    with single_threaded_blas(), atomic_output(output) as temporary:
        with VideoWriter(temporary, width, height, fps, clip, options.encode, subtitles) as writer:
            for index, (frame, points) in enumerate(_template_frames(prepared, tracks, frame_count, options)):
                cancel.raise_if_canceled()
                if points is not None:
                    frame = renderer.render(frame, points, index)
                if frame_hook is not None:
                    frame = frame_hook(frame, index / fps)
                writer.write(frame)
                if index % 5 == 0 or index == frame_count - 1:
                    progress("rendering", index + 1, frame_count)
    return GenerateResult(output=output, duration_s=frame_count / fps, frame_count=frame_count, width=width,
                          height=height, fps=fps, renderer=renderer.name)


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """BLAS threads spin against the encoder's threads for 100x100 matrices: 30x slower per solve here."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def plan_mouth(clip: AudioClip, fps: float, frame_count: int, options: GenerateOptions) -> MouthPlan:
    """Speech features per frame, then the mouth plan (from phonemes when the clip has them)."""
    # Streamed in 10 s chunks: a long (or memory-mapped) clip is never copied whole at 16 kHz.
    features = analyse_hops(hop_features_stream(iter_resampled(clip, ANALYSIS_RATE)), fps, frame_count)
    if clip.phonemes and options.motion.use_phonemes:
        return plan_from_phonemes(clip.phonemes, features, options.motion)
    return plan_from_features(features, options.motion)


def _template_frames(prepared: PreparedTemplate, tracks: Tracks, count: int,
                     options: GenerateOptions) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    info = probe(prepared.source)
    if prepared.facts.is_still:
        image = next(iter_frames(prepared.source, info))
        yield from animate_still(image, tracks.points[0] if tracks.present[0] else None, count, prepared.facts.fps)
        return
    for template_index, frame in iter_pingpong_frames(prepared.source, info, count, options.encode.start_frame):
        yield frame, (tracks.points[template_index] if tracks.present[template_index] else None)


def _check_clip(clip: AudioClip, options: GenerateOptions) -> None:
    if len(clip.samples) == 0:
        raise EmptyAudioError("the audio is empty (0 samples); give a recording with speech, or silence of some length")
    if clip.duration_s > options.limits.max_audio_s:
        raise AudioTooLongError(f"the audio is {clip.duration_s:.0f} s long, over the limit of "
                                f"{options.limits.max_audio_s:.0f} s; split it or raise the max_audio_s limit")


def _cache_key(template: Path, options: TrackingOptions) -> str:
    settings = f"v{TRACKS_VERSION}:{options.face}:{options.smoothing}:{options.min_face_height_px}"
    return hashlib.sha256(f"{content_hash(template)}:{settings}".encode()).hexdigest()[:32]


def _facts_to_dict(facts: TemplateFacts) -> dict:
    return {name: getattr(facts, name) for name in TemplateFacts.__slots__}


def _load_prepared(template: Path, key: str, cache_path: Path) -> PreparedTemplate:
    data = json.loads((cache_path / "facts.json").read_text())
    return PreparedTemplate(source=template, content_hash=key, cache_path=cache_path,
                            facts=TemplateFacts(**data["facts"]))


def _write_thumbnail(frame: np.ndarray, path: Path) -> None:
    height, width = frame.shape[:2]
    scale = min(1.0, 360.0 / max(height, width))
    small = cv2.resize(frame, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


__all__ = ["MediaInfo", "MouthRenderer", "generate", "plan_mouth", "prepare_template"]
