"""The shared media in ../shared/media, and writers of variants of it made with PyAV in tmp_path.

Inputs a test needs beyond the shared files (rotated, variable-rate, other containers and codecs, short
speech) are made from real frames and speech, kept to a few seconds so the suite stays quick on two cores.
"""

from __future__ import annotations

import wave
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

MEDIA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "media"


def media_path(name: str) -> Path:
    """A shared media file; fails the test (not an error deep inside it) when the folder is missing."""
    path = MEDIA_DIR / name
    if not path.is_file():
        pytest.fail(f"test media {path} is missing; the shared media folder must sit beside the checkout")
    return path


# Seconds of speech for a job a test kills while it renders. Progress reaches the database once a second, and a
# 12 s job at 480p finished between two of those on a quiet machine; 40 s renders for several seconds.
KILLABLE_S = 40.0


def trim_wav(source: Path, target: Path, seconds: float) -> Path:
    """The first `seconds` of a PCM wav, for short jobs."""
    with wave.open(str(source)) as reader:
        frames = reader.readframes(int(reader.getframerate() * seconds))
        params = reader.getparams()
    with wave.open(str(target), "wb") as writer:
        writer.setparams(params)
        writer.writeframes(frames)
    return target


def read_rgb_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """Decode frames as stored (no rotation, no rate conversion): the ground truth for comparisons."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if limit is not None and len(frames) >= limit:
                break
    return frames


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float | Fraction = 25, *, codec: str = "libx264",
                pix_fmt: str = "yuv420p", container_format: str | None = None,
                rotation_ccw: int | None = None, pts_ms: Sequence[int] | None = None,
                codec_options: dict[str, str] | None = None) -> Path:
    """Encode RGB frames to `path`. rotation_ccw writes a display matrix (FFmpeg's counter-clockwise degrees);
    pts_ms gives each frame its own timestamp in milliseconds, making a variable-rate file."""
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w", format=container_format) as container:
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream(codec, rate=rate, options=codec_options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation_ccw is not None:
            stream.set_display_rotation(rotation_ccw)
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = pts_ms[index] if pts_ms is not None else index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_empty_wav(path: Path, sample_rate: int = 16000) -> Path:
    """A valid 16-bit mono WAV header with no samples (encoders refuse to write one)."""
    fmt = (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + sample_rate.to_bytes(4, "little") \
        + (2 * sample_rate).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + (0).to_bytes(4, "little")
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    return path


def write_audio(path: Path, samples: np.ndarray, sample_rate: int, *, codec: str = "pcm_s16le",
                channels: int = 1, container_format: str | None = None, out_rate: int | None = None,
                codec_options: dict[str, str] | None = None) -> Path:
    """Encode mono float32 `samples` (duplicated to stereo when channels=2) with a PyAV encoder."""
    layout = "stereo" if channels == 2 else "mono"
    planar = np.tile(samples.astype(np.float32)[None, :], (channels, 1))
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=out_rate or sample_rate, layout=layout,
                                      options=codec_options or {})
        if out_rate and out_rate != sample_rate:
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=out_rate)
        else:
            resampler = None
        # 0.1 s frames with real timestamps: encoders derive priming and end trimming from them
        chunk = sample_rate // 10
        for begin in range(0, planar.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, begin:begin + chunk]),
                                               format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = sample_rate, begin, Fraction(1, sample_rate)
            for item in resampler.resample(frame) if resampler else [frame]:
                container.mux(stream.encode(item))
        for item in resampler.resample(None) if resampler else []:
            container.mux(stream.encode(item))
        container.mux(stream.encode(None))
    return path


def pattern_frames(count: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Frames whose orientation and index are easy to read back: a red top-left quadrant and a grey level
    of 8 * index + 20 everywhere else (h264 keeps flat areas within a few levels)."""
    frames = []
    for index in range(count):
        rgb = np.full((height, width, 3), 8 * index + 20, np.uint8)
        rgb[: height // 2, : width // 2] = (255, 0, 0)
        frames.append(rgb)
    return frames


def frame_level(rgb: np.ndarray) -> int:
    """The index pattern_frames drew into `rgb` (read from the bottom-right quadrant)."""
    height, width = rgb.shape[:2]
    return int(round((float(rgb[height // 2:, width // 2:].mean()) - 20) / 8))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
