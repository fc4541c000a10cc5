"""Media input through PyAV: probe a template, stream its frames upright at a constant rate, load speech.

Everything is a generator over an open container so a long template never sits in memory. The rules:
- frames are RGB uint8 HxWx3, rotated upright from the display matrix (phone videos, EXIF photos);
- frame i of a video is the source frame on screen at time i/fps, so variable-rate sources become constant;
- every failure to open or decode is an UnreadableInputError that names the file and says what to use instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from .errors import AudioTooLongError, EmptyAudioError, InputNotFoundError, MediaTooLargeError, UnreadableInputError
from .options import Limits
from .speech_types import AudioClip

logger = logging.getLogger("facecast.engine.media")

MediaKind = Literal["video", "image", "audio"]

IMAGE_FPS = 25.0  # a photo template plays at this rate
_MAX_SANE_FPS = 240.0  # above this a container's rate is a timebase guess (webm says 1000), not a frame rate
_VIDEO_HINT = "use an mp4/mov/webm/mkv video or a jpg/png/webp image"
_AUDIO_HINT = "use a wav/mp3/m4a/aac/ogg/opus/flac file or a video with an audio track"
# Backward ping-pong segments are decoded in chunks that fit in this many bytes of RGB frames.
_CHUNK_BYTES = 128 * 1024 * 1024
_MIN_CHUNK_FRAMES, _MAX_CHUNK_FRAMES = 16, 128
AAC_PADDING_SAMPLES = 1024  # an AAC frame; the last one is padded to this length
_TIMESTAMP_TOLERANCE = 0.1  # of a frame: webm stores milliseconds, so 29.97 fps timestamps are off by <0.02
MAX_WORKING_RATE = 48_000  # audio is resampled to at most this while it is decoded, never held at its source rate


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What a template or audio file holds, as the engine will see it (upright, constant frame rate)."""

    path: Path
    kind: MediaKind
    width: int  # display size after rotation (0 for audio)
    height: int
    fps: float  # constant output rate: the video's average rate (VFR made constant), 25.0 for images
    frame_count: int  # frames at `fps` (1 for images, 0 for audio)
    duration_s: float
    rotation: int  # 0/90/180/270 degrees clockwise applied to decoded frames to make them upright
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None
    video_codec: str | None
    audio_codec: str | None


def _hint_for(path: Path) -> str:
    return _AUDIO_HINT if path.suffix.lower() in _AUDIO_SUFFIXES else _VIDEO_HINT


_AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".weba"}


def _reason(exc: BaseException) -> str:
    """A short lower-case cause from an FFmpeg/OS error, e.g. 'invalid data found when processing input'."""
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip().rstrip(".").lower() or type(exc).__name__


def unreadable(path: Path, problem: str, hint: str | None = None) -> UnreadableInputError:
    """The one sentence every unreadable input gets: file, problem, what to do."""
    return UnreadableInputError(f"cannot decode {path.name}: {problem}; {hint or _hint_for(path)}")


def open_input_or_raise(path: Path) -> av.container.InputContainer:
    """Open `path` for decoding, turning every OS/FFmpeg failure into a FacecastError naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path.name} was not found at {path}; check the path and that the upload finished")
    if path.is_dir():
        raise unreadable(path, "it is a directory, not a file")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except PermissionError as exc:
        raise unreadable(path, "permission denied", "make the file readable by the facecast user") from exc
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise unreadable(path, f"it is not a media file ({_reason(exc)})") from exc


@contextmanager
def decoding(path: Path) -> Iterator[av.container.InputContainer]:
    """Open and close a container; decode errors inside the block become UnreadableInputError."""
    container = open_input_or_raise(path)
    try:
        yield container
    except (av.FFmpegError, EOFError) as exc:
        raise unreadable(path, f"the file is damaged ({_reason(exc)})") from exc
    finally:
        container.close()


def _is_image_container(container: av.container.InputContainer) -> bool:
    name = container.format.name
    return name == "image2" or name.endswith("_pipe")


def _stream_fps(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < float(rate) <= _MAX_SANE_FPS:
            return float(rate)
    return IMAGE_FPS


def _duration_s(container: av.container.InputContainer, stream: av.stream.Stream | None) -> float | None:
    """The stream's duration from the container header, without decoding; None when the header lacks it."""
    if stream is not None and stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _clockwise_rotation(frame: av.VideoFrame) -> int:
    # frame.rotation is FFmpeg's counter-clockwise display-matrix angle (-90 for a phone's portrait video).
    return int(round(-frame.rotation / 90.0)) % 4 * 90


def _first_frame_or_raise(path: Path, container: av.container.InputContainer) -> av.VideoFrame:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    for frame in container.decode(stream):
        return frame
    raise unreadable(path, "its video track has no decodable frames (the file may be truncated)")


def probe(path: Path, limits: Limits = Limits()) -> MediaInfo:
    """Describe a template or audio file as the engine will use it; decodes one frame to learn the rotation.

    The picture size, sample rate and duration the headers declare are checked against `limits` before that
    frame is decoded, so a small file that would decode to gigabytes is refused at once.

    Args:
        path: a video, an image or an audio file.
        limits: max_pixels, max_sample_rate and max_template_s.

    Returns:
        MediaInfo with the upright size, the constant frame rate and the frame count iter_frames will yield.

    Raises:
        InputNotFoundError: the file does not exist.
        UnreadableInputError: not a media file, damaged, unreadable, or with neither video nor audio.
        MediaTooLargeError: over one of the limits.
    """
    path = Path(path)
    _check_image_header(path, limits)  # FFmpeg decodes a whole image just to open it
    with decoding(path) as container:
        _check_declared_size(path, container, limits)
        audio = container.streams.audio[0] if container.streams.audio else None
        video = container.streams.video[0] if container.streams.video else None
        audio_fields = dict(
            has_audio=audio is not None,
            audio_sample_rate=audio.codec_context.sample_rate if audio else None,
            audio_channels=audio.codec_context.channels if audio else None,
            audio_codec=audio.codec_context.name if audio else None,
        )
        if video is None:
            if audio is None:
                raise unreadable(path, "it has no video, image or audio track")
            duration = _duration_s(container, audio) or 0.0
            return MediaInfo(path, "audio", 0, 0, 0.0, 0, duration, 0, video_codec=None, **audio_fields)
        first = _first_frame_or_raise(path, container)
        rotation = _clockwise_rotation(first)
        width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        codec = video.codec_context.name
        if _is_image_container(container):
            return MediaInfo(path, "image", width, height, IMAGE_FPS, 1, 1.0 / IMAGE_FPS, rotation,
                             video_codec=codec, **audio_fields)
        fps = _stream_fps(video)
        duration = _duration_s(container, video)
        if duration is not None and duration > limits.max_template_s:
            raise MediaTooLargeError(f"{path.name} is {duration:.0f} s long, over the {limits.max_template_s:.0f} s "
                                     "template limit (max_template_s); trim it, a template is looped anyway")
        frame_count = _frame_count(video, fps, duration)
        if frame_count == 0:
            frame_count = _count_by_demuxing(path)
        if duration is None:
            duration = frame_count / fps
        return MediaInfo(path, "video", width, height, fps, max(frame_count, 1), duration, rotation,
                         video_codec=codec, **audio_fields)


def _check_declared_size(path: Path, container: av.container.InputContainer, limits: Limits) -> None:
    """Refuse a picture over max_pixels or, in a file without one, audio over max_sample_rate, from the headers."""
    if container.streams.video:
        context = container.streams.video[0].codec_context
        if context.width * context.height > limits.max_pixels:
            raise MediaTooLargeError(f"{path.name} is {context.width}x{context.height}, over the limit of "
                                     f"{limits.max_pixels:,} pixels per frame (max_pixels); scale it down first")
    else:
        _check_sample_rate(path, container, limits)


def _check_image_header(path: Path, limits: Limits) -> None:
    """Read a photo's size from its header alone (Pillow opens lazily) and refuse it over max_pixels."""
    if _sound_or_video_signature(path):
        return  # Pillow would import its 40-odd format plugins to find it cannot open it (50 ms a process)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            size = "{}x{}".format(*image.size)
            pixels = image.size[0] * image.size[1]
    except Image.DecompressionBombError:  # Pillow's own guard (over ~179 million pixels) fired first
        size, pixels = "over 179 million pixels", limits.max_pixels + 1
    except (UnidentifiedImageError, OSError, ValueError):
        return  # not a still image (or unreadable): FFmpeg's own checks follow
    if pixels > limits.max_pixels:
        raise MediaTooLargeError(f"{path.name} is {size}, over the limit of {limits.max_pixels:,} pixels per "
                                 "frame (max_pixels); scale it down first")


# ISO media brands of still pictures (HEIF, AVIF): every other file with an `ftyp` box is a video or sound.
_PICTURE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}


def _sound_or_video_signature(path: Path) -> bool:
    """Whether the file starts as an MP4/MOV, Matroska/WebM, WAV/AVI, MP3, Ogg or FLAC does: not a picture."""
    try:
        with open(path, "rb") as file:
            head = file.read(12)
    except OSError:
        return False  # FFmpeg's own checks report it
    if head[4:8] == b"ftyp":
        return head[8:12] not in _PICTURE_BRANDS
    if head[:4] == b"RIFF":
        return head[8:12] in (b"WAVE", b"AVI ")
    return head.startswith((b"\x1a\x45\xdf\xa3", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"OggS",
                            b"fLaC"))


def _check_sample_rate(path: Path, container: av.container.InputContainer, limits: Limits) -> None:
    if container.streams.audio:
        rate = container.streams.audio[0].codec_context.sample_rate or 0
        if rate > limits.max_sample_rate:
            raise MediaTooLargeError(f"{path.name} has audio at {rate:,} Hz, over the limit of "
                                     f"{limits.max_sample_rate:,} Hz (max_sample_rate); resample it to 48 kHz")


def _frame_count(stream: av.video.stream.VideoStream, fps: float, duration_s: float | None) -> int:
    from_duration = int(round(duration_s * fps)) if duration_s else 0
    # mp4 headers count frames exactly; trust them unless the rate is variable and they disagree.
    if stream.frames and (not from_duration or abs(stream.frames - from_duration) <= 1):
        return stream.frames
    return from_duration or stream.frames


def _count_by_demuxing(path: Path) -> int:
    """Frames in a stream whose header has no duration: count packets without decoding them."""
    with decoding(path) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


def _to_rgb(frame: av.VideoFrame, rotation: int) -> np.ndarray:
    """RGB uint8 HxWx3, upright; alpha (png/webp) is composited over white."""
    if frame.format.name in ("rgba", "bgra", "argb", "abgr", "yuva420p", "pal8", "ya8", "rgba64le", "ya16le"):
        rgba = frame.to_ndarray(format="rgba").astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        rgb = (rgba[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    else:
        rgb = frame.to_ndarray(format="rgb24")
    if rotation:
        # np.rot90 turns counter-clockwise; rotation is clockwise.
        rgb = np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90)))
    return rgb


class _CfrReader:
    """Decodes one video at a constant rate: frame i is the source frame shown at time i/fps.

    The source frame shown at i/fps is the last one with a timestamp <= i/fps, allowing a tenth of a frame
    for millisecond-rounded timestamps (webm), so a constant-rate source maps frame k to slot k exactly.
    """

    def __init__(self, path: Path, info: MediaInfo, container: av.container.InputContainer, threads: int = 0) -> None:
        self.path, self.info, self.container = path, info, container
        self.stream = container.streams.video[0]
        self.stream.thread_type = "AUTO"
        if threads:  # else FFmpeg picks from the cores
            self.stream.thread_count = threads
        start = self.stream.start_time
        self.start_s = float(start * self.stream.time_base) if start is not None else 0.0

    def _seek(self, index: int) -> None:
        if index <= 0:
            self.container.seek(0)  # container.seek(0) goes to the very beginning, whatever the start time
            return
        target_s = self.start_s + index / self.info.fps
        self.container.seek(int(target_s / self.stream.time_base), stream=self.stream, backward=True)

    def frames(self, first: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, rgb) for first <= index < stop; pads with the last frame if the source ends early."""
        stop = min(stop, self.info.frame_count)
        if first >= stop:
            return
        self._seek(first)
        yielded = yield from self._decode_slots(first, stop, exact=first > 0)
        if yielded is None:  # the seek landed after `first` (a container without a usable index)
            logger.debug("seek in %s landed late; decoding %d from the start", self.path.name, first)
            self._seek(0)
            yield from self._decode_slots(first, stop, exact=False)

    def _decode_slots(self, first: int, stop: int, exact: bool) -> Iterator[tuple[int, np.ndarray]]:
        fps, rotation = self.info.fps, self.info.rotation
        next_index = first
        shown: av.VideoFrame | None = None  # the source frame on screen at slot next_index
        for frame in self.container.decode(self.stream):
            time_s = frame.time if frame.time is not None else self.start_s + (next_index + 0.5) / fps
            slot = math.ceil((time_s - self.start_s) * fps - _TIMESTAMP_TOLERANCE)  # first slot showing it
            if shown is None and exact and slot > first:
                return None
            while next_index < slot and next_index < stop:
                # before the first decoded frame (a stream starting late) the first frame stands in
                yield next_index, _to_rgb(shown if shown is not None else frame, rotation)
                next_index += 1
            if next_index >= stop:
                return True
            shown = frame
        while shown is not None and next_index < stop:
            yield next_index, _to_rgb(shown, rotation)
            next_index += 1
        return True


def _still_or_none(path: Path, info: MediaInfo) -> np.ndarray | None:
    """The single frame of an image or one-frame video, else None."""
    if info.kind != "image" and info.frame_count > 1:
        return None
    with decoding(path) as container:
        return _to_rgb(_first_frame_or_raise(path, container), info.rotation)


def iter_frames(path: Path, info: MediaInfo, start: int = 0) -> Iterator[np.ndarray]:
    """Frames start, start+1, ... of a template at info.fps, upright RGB; an image yields itself once.

    Yields exactly info.frame_count - start frames (a VFR source is made constant by repeating or dropping).
    """
    path = Path(path)
    if info.kind == "image":
        if start == 0:
            yield _still_or_none(path, info)
        return
    with decoding(path) as container:
        for _, rgb in _CfrReader(path, info, container).frames(start, info.frame_count):
            yield rgb


def pingpong_indices(frame_count: int, count: int, start: int = 0) -> Iterator[int]:
    """start, start+1, ..., n-1, n-2, ..., 0, 1, ...: the template played back and forth, ends not repeated."""
    if frame_count <= 1:
        yield from (0 for _ in range(count))
        return
    period = 2 * (frame_count - 1)
    for k in range(start, start + count):
        phase = k % period
        yield phase if phase < frame_count else period - phase


def iter_pingpong_frames(path: Path, info: MediaInfo, count: int, start: int = 0,
                         threads: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield `count` (template_index, frame) pairs playing the template forward then backward, so long audio
    never jump-cuts. Memory stays bounded: backward runs are decoded in chunks from the keyframe before each
    chunk and yielded reversed; at most one chunk (about 128 MB of frames) is held. The first chunk of a
    backward run is the end of the forward run before it, kept as it went by: a template with one keyframe
    would otherwise be decoded from its start again for it. `threads`: the decoder's (0: FFmpeg picks).
    """
    path = Path(path)
    n = info.frame_count
    still = _still_or_none(path, info)
    if still is not None:
        for _ in range(count):
            yield 0, still.copy()
        return
    chunk = _chunk_frames(info)
    with decoding(path) as container:
        reader = _CfrReader(path, info, container, threads)
        tail: dict[int, np.ndarray] = {}  # the end of the last forward run, where the next backward run starts
        remaining, position = count, start % (2 * (n - 1))
        while remaining > 0:
            if position < n - 1:  # forward run from `position` up to n-1
                stop = min(n, position + remaining)
                for index, rgb in reader.frames(position, stop):
                    if index >= n - 1 - chunk:
                        tail[index] = rgb.copy()  # a copy: the caller may draw into the frame it is given
                    yield index, rgb
                remaining -= stop - position
                position = stop
            else:  # backward run: indices n-2 down to 0
                top = 2 * (n - 1) - position  # first index of this backward run
                bottom = max(0, top - remaining + 1)
                for hi in range(top + 1, bottom, -chunk):
                    lo = max(bottom, hi - chunk)
                    if all(index in tail for index in range(lo, hi)):  # kept: no decoding from the keyframe
                        frames = [(index, tail[index]) for index in range(lo, hi)]
                    else:
                        frames = list(reader.frames(lo, hi))
                    tail.clear()
                    for index, rgb in reversed(frames):
                        yield index, rgb
                    del frames
                remaining -= top - bottom + 1
                position += top - bottom + 1
            position %= 2 * (n - 1)


def _chunk_frames(info: MediaInfo) -> int:
    frame_bytes = max(1, info.width * info.height * 3)
    return int(np.clip(_CHUNK_BYTES // frame_bytes, _MIN_CHUNK_FRAMES, _MAX_CHUNK_FRAMES))


def rational_fps(fps: float) -> Fraction:
    """An exact frame rate for a container: 25 -> 25, 29.97002997 -> 30000/1001."""
    return Fraction(fps).limit_denominator(1001)


def load_audio(path: Path, limits: Limits = Limits(), sample_rate: int | None = None) -> AudioClip:
    """Decode speech (or a video's audio track) to mono float32 in [-1, 1].

    The duration is checked from the container header before decoding, and again while decoding for files
    whose header does not say, so an over-long upload is refused without decoding it all.

    Args:
        path: wav/mp3/m4a/aac/ogg/opus/flac, any rate, mono or stereo, or a video with an audio track.
        limits: max_audio_s caps the duration, max_sample_rate the declared rate.
        sample_rate: resample to this rate; None keeps the file's rate up to 48 kHz (higher rates are
            resampled to 48 kHz while decoding).

    Raises:
        InputNotFoundError, UnreadableInputError: missing, damaged or not audio.
        EmptyAudioError: no audio track, or zero samples.
        AudioTooLongError: longer than limits.max_audio_s.
        MediaTooLargeError: a sample rate over limits.max_sample_rate.
    """
    path = Path(path)
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    with decoding(path) as container:
        if not container.streams.audio:
            raise EmptyAudioError(f"{path.name} has no audio track; use a file with recorded speech")
        _check_sample_rate(path, container, limits)
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        header_s = _duration_s(container, stream)
        if header_s is not None and header_s > limits.max_audio_s + 0.5:
            raise _too_long(path, header_s, limits)
        source_rate = stream.codec_context.sample_rate
        rate = sample_rate or min(source_rate, MAX_WORKING_RATE)
        # mp4/m4a durations come from the edit list, exact to the sample; other headers may be estimates
        exact_header = header_s is not None and "mp4" in container.format.name
        if not rate:
            raise unreadable(path, "its audio track has no sample rate", _AUDIO_HINT)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        max_samples = int((limits.max_audio_s + 0.5) * rate)
        chunks: list[np.ndarray] = []
        total = 0
        for frame in container.decode(stream):
            if _mono_float_at(frame, rate):  # as decoded (AAC, Opus, FLAC in float): no resampler call a frame
                chunks.append(frame.to_ndarray().reshape(-1))
                total += chunks[-1].size
            else:
                frame.pts = None  # timestamps gaps would make the resampler insert or drop samples
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    total += chunks[-1].size
            if total > max_samples:
                raise _too_long(path, total / rate, limits, decoded=True)
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if exact_header:
        samples = _trim_codec_padding(samples, rate, header_s, source_rate)
    if samples.size == 0:
        raise EmptyAudioError(f"{path.name} has no audio samples (it is empty); use a recording with speech")
    np.clip(samples, -1.0, 1.0, out=samples)
    logger.debug("loaded %s: %.2f s at %d Hz", path.name, samples.size / rate, rate)
    return AudioClip(samples=samples, sample_rate=rate)


def _mono_float_at(frame: av.AudioFrame, rate: int) -> bool:
    """Whether a decoded frame already is what load_audio makes of it: one channel of float samples at `rate`."""
    return frame.format.name in ("flt", "fltp") and frame.layout.nb_channels == 1 and frame.sample_rate == rate


def _trim_codec_padding(samples: np.ndarray, rate: int, exact_duration_s: float, source_rate: int) -> np.ndarray:
    """Drop the AAC encoder's end padding, which FFmpeg's mp4 demuxer still decodes: at most one frame
    past the duration in the header is trimmed, so real audio is never cut."""
    expected = int(round(exact_duration_s * rate))
    if 0 < samples.size - expected <= math.ceil(AAC_PADDING_SAMPLES * rate / source_rate) + 1:
        return samples[:expected]
    return samples


def _too_long(path: Path, duration_s: float, limits: Limits, decoded: bool = False) -> AudioTooLongError:
    length = f"more than {duration_s:.0f} s" if decoded else f"{duration_s:.1f} s long"
    return AudioTooLongError(
        f"{path.name} is {length}, over the {limits.max_audio_s:.0f} s limit (max_audio_s); "
        "split the speech into shorter parts or raise max_audio_s"
    )


def iter_resampled(clip: AudioClip, sample_rate: int, chunk_s: float = 10.0) -> Iterator[np.ndarray]:
    """clip.samples at `sample_rate` in chunks of about `chunk_s` seconds: long audio (or a memory-mapped
    clip) is never converted whole."""
    step = max(1, int(clip.sample_rate * chunk_s))
    if sample_rate == clip.sample_rate:
        for begin in range(0, clip.samples.size, step):
            yield np.asarray(clip.samples[begin:begin + step], dtype=np.float32)
        return
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    for begin in range(0, clip.samples.size, step):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(clip.samples[begin:begin + step], dtype=np.float32)[None, :],
            format="flt", layout="mono",
        )
        frame.sample_rate = clip.sample_rate
        for out in resampler.resample(frame):
            yield out.to_ndarray().reshape(-1)
    for out in resampler.resample(None):
        yield out.to_ndarray().reshape(-1)


def resample_audio(clip: AudioClip, sample_rate: int) -> np.ndarray:
    """clip.samples at `sample_rate` (mono float32), exactly round(len * new/old) samples long."""
    if sample_rate == clip.sample_rate:
        return clip.samples.astype(np.float32, copy=False)
    expected = int(round(clip.samples.size * sample_rate / clip.sample_rate))
    parts = list(iter_resampled(clip, sample_rate))
    out = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if out.size >= expected:
        return out[:expected]
    return np.pad(out, (0, expected - out.size))
