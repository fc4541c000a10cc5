"""H.264/AAC MP4 writing through PyAV; callers wrap the output in files.atomic_output().

The writer takes RGB frames at the template size, scales them to the output size, converts to yuv420p with
OpenCV (0.6 ms against 3.2 ms for PyAV's rgb24 reformat on a 720x1280 frame, same values within 0.1),
and muxes the speech as AAC alongside, cut to the video's length.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np

from .errors import InvalidOptionError
from .media import iter_pingpong_frames, probe, rational_fps, resample_audio
from .options import EncodeOptions
from .speech_packets import SPEECH_PACKETS, SpeechPacket, recorded
from .speech_types import AudioClip, SubtitleCue
from .stages import in_thread, one_opencv_thread

logger = logging.getLogger("facecast.engine.encode")

AAC_FRAME_SAMPLES = 1024
AAC_BIT_RATE = 128_000
# FFmpeg's "fast" AAC coder: a third of the default's CPU on the encoder's thread (0.10 against 0.31-0.37 s for
# 60 s of 16 kHz speech) at the same fidelity to the speech (SNR 35.7 against 35.9 dB at 16 kHz, 40.5 against
# 35.0 dB at 44.1 kHz, decoded and compared sample by sample).
AAC_CODER = "fast"
KEEP_SPEECH_MAX_S = 120  # longer speech is a small share of its video's render: not worth keeping its packets
# Rates the AAC encoder accepts; other clip rates are resampled to 48 kHz.
_AAC_RATES = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}


def output_size(width: int, height: int, max_height: int | None) -> tuple[int, int]:
    """Scale down to max_height keeping the aspect ratio, then round both sides down to even (yuv420p)."""
    if width < 2 or height < 2:
        raise InvalidOptionError(f"video size must be at least 2x2, got {width}x{height}")
    if max_height is not None and height > max_height:
        width, height = max(2, int(width * max_height / height)), max_height
    return width - width % 2, height - height % 2


class VideoWriter:
    """Writes RGB frames as H.264 yuv420p (libx264, crf/preset from options) with AAC speech in a faststart MP4.

    Use as a context manager: a clean exit flushes and finalises the file, an exception closes it without
    flushing (wrap it in atomic_output so the partial file is removed).
    """

    def __init__(self, path: Path, width: int, height: int, fps: float, audio: AudioClip | None,
                 options: EncodeOptions, subtitles: Sequence[SubtitleCue] = (), frame_count: int | None = None) -> None:
        """`frame_count`, when the caller knows how many frames it will write, lets the speech's AAC packets be
        kept for (or taken from) the previous video with the same clip and length (speech_packets.py)."""
        self.path = Path(path)
        self.width, self.height = output_size(width, height, options.max_height)
        self.rate = rational_fps(fps)
        self.frame_count = 0
        self._expected = frame_count
        self._closed = False
        self._container = av.open(str(self.path), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            self._video = self._add_video_stream(options)
            self._audio_samples, self._audio = self._add_audio_stream(audio)
            self._subtitles = list(subtitles)
            self._subtitle_stream = self._container.add_mux_stream("mov_text") if self._subtitles else None
            if self._subtitle_stream is not None:
                self._subtitle_stream.time_base = Fraction(1, 1000)
        except BaseException:
            self._container.close()
            raise
        self._audio_pos = 0  # samples of self._audio_samples already encoded

    def _add_video_stream(self, options: EncodeOptions) -> av.video.stream.VideoStream:
        settings = {"crf": str(options.crf), "preset": options.preset}
        if options.codec_threads:
            settings["threads"] = str(options.codec_threads)
        stream = self._container.add_stream("libx264", rate=self.rate, options=settings)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.codec_context.time_base = 1 / self.rate
        return stream

    def _add_audio_stream(self, clip: AudioClip | None) -> tuple[np.ndarray, av.audio.stream.AudioStream | None]:
        self._replay: list[SpeechPacket] | None = None  # the speech as packets kept from the last video
        self._record: list[SpeechPacket] | None = None  # the speech's packets as encoded, to keep
        if clip is None or clip.samples.size == 0:
            return np.zeros(0, np.float32), None
        rate = clip.sample_rate if clip.sample_rate in _AAC_RATES else 48000
        stream = self._container.add_stream("aac", rate=rate, layout="mono")
        stream.bit_rate = AAC_BIT_RATE
        stream.codec_context.options = {"aac_coder": AAC_CODER}
        if self._expected is not None and self._expected / self.rate <= KEEP_SPEECH_MAX_S:
            self._speech_key = (clip, rate, int(round(self._expected / self.rate * rate)))
            self._replay = SPEECH_PACKETS.get(*self._speech_key)
            if self._replay is not None:
                return np.zeros(0, np.float32), stream
            self._record = []
        samples = resample_audio(clip, rate) if rate != clip.sample_rate else clip.samples
        return np.ascontiguousarray(samples, dtype=np.float32), stream

    def write(self, frame_rgb: np.ndarray) -> None:
        """Encode one RGB uint8 HxWx3 frame, at the template size or already at the output size."""
        height, width = frame_rgb.shape[:2]
        if (width, height) != (self.width, self.height):
            frame_rgb = cv2.resize(frame_rgb, (self.width, self.height), interpolation=cv2.INTER_AREA)
        yuv = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self.frame_count
        self._container.mux(self._video.encode(frame))
        self.frame_count += 1
        if self._audio is not None:  # keep audio about one second behind the video so packets interleave
            self._encode_audio_until(int((self.frame_count / self.rate - 1) * self._audio.rate))

    def _encode_audio_until(self, end: int, final: bool = False) -> None:
        """Encode whole AAC frames of samples up to `end`; with final, the short last frame too."""
        assert self._audio is not None
        if self._replay is not None:
            self._mux_kept_until(end, final)
            return
        while self._audio_pos < end and (final or end - self._audio_pos >= AAC_FRAME_SAMPLES):
            stop = min(end, self._audio_pos + AAC_FRAME_SAMPLES)
            chunk = self._audio_samples[self._audio_pos:stop]
            if chunk.size < stop - self._audio_pos:  # the video outlasts the speech: pad with silence
                chunk = np.pad(chunk, (0, stop - self._audio_pos - chunk.size))
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate, frame.pts = self._audio.rate, self._audio_pos
            self._mux_encoded(self._audio.encode(frame))
            self._audio_pos = stop

    def _mux_encoded(self, packets: list[av.Packet]) -> None:
        if self._record is not None:
            self._record.extend(recorded(packets))  # before muxing, which rescales their timestamps
        self._container.mux(packets)

    def _mux_kept_until(self, end: int, final: bool) -> None:
        """Mux the kept packets that end by sample `end` (all that are left when final)."""
        assert self._replay is not None and self._audio is not None
        while self._audio_pos < len(self._replay):
            kept = self._replay[self._audio_pos]
            if not final and kept.pts + kept.duration > end:
                return
            self._container.mux(kept.packet(self._audio))
            self._audio_pos += 1

    def close(self) -> None:
        """Flush video then audio (cut or padded to frame_count/fps) and finalise the MP4."""
        if self._closed:
            return
        self._closed = True
        try:
            self._container.mux(self._video.encode(None))
            if self._audio is not None:
                self._encode_audio_until(int(round(self.frame_count / self.rate * self._audio.rate)), final=True)
                if self._replay is None:
                    self._mux_encoded(self._audio.encode(None))
            self._mux_subtitles()
        finally:
            self._container.close()
        if self._record is not None and self.frame_count == self._expected:
            SPEECH_PACKETS.keep(*self._speech_key, self._record)
        logger.debug("wrote %s: %d frames %dx%d at %s fps", self.path.name, self.frame_count,
                     self.width, self.height, self.rate)

    def _mux_subtitles(self) -> None:
        """A soft subtitle track (mov_text: a 16-bit length, then UTF-8 text per cue), player-selectable."""
        if self._subtitle_stream is None:
            return
        end_ms = int(self.frame_count / self.rate * 1000)
        for cue in sorted(self._subtitles, key=lambda c: c.start_s):
            start, stop = int(cue.start_s * 1000), min(int(cue.end_s * 1000), end_ms)
            if stop <= start:
                continue
            data = cue.text.encode("utf-8")[:65535]
            packet = av.Packet(struct.pack(">H", len(data)) + data)
            packet.stream = self._subtitle_stream
            packet.pts = packet.dts = start
            packet.duration = stop - start
            packet.time_base = self._subtitle_stream.time_base
            self._container.mux(packet)

    def abort(self) -> None:
        """Close the container without flushing; the file is left incomplete for atomic_output to delete."""
        if not self._closed:
            self._closed = True
            self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def encode_frames(frames: Iterable[np.ndarray], path: Path, width: int, height: int, fps: float,
                  audio: AudioClip | None, options: EncodeOptions, subtitles: Sequence[SubtitleCue] = ()) -> int:
    """Write all `frames` (RGB, template size) with `audio` to `path`; returns the number of frames."""
    with VideoWriter(path, width, height, fps, audio, options, subtitles) as writer:
        for frame in frames:
            writer.write(frame)
        return writer.frame_count


def transcode_plain(src: Path, dst: Path, options: EncodeOptions, frame_count: int) -> None:
    """Decode `frame_count` frames of `src` (ping-pong, as generation does) and re-encode them untouched.

    The baseline the benchmark and eval compare generation against: same decoder, writer and settings, and
    the decoder in its own thread as generation has it, so only the rendering differs.
    """
    info = probe(src)
    frames = (frame for _, frame in iter_pingpong_frames(src, info, frame_count, start=options.start_frame))
    with one_opencv_thread(), contextlib.closing(in_thread(frames, "decode")) as decoded:
        encode_frames(decoded, dst, info.width, info.height, info.fps, None, options)
