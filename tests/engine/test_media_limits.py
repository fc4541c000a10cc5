"""Small files that declare huge pictures, sample rates or durations are refused from their headers.

Each runs through the real CLI in a child process whose peak memory is measured: the refusal must come
before any decoding, so the child stays near its import footprint.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

PEAK_RSS_LIMIT_MB = 400  # importing the engine costs ~250 MB; decoding any of these files costs gigabytes


def write_huge_png(path: Path, side: int = 16000) -> Path:
    """A black side x side PNG (768 MB decoded) written row by row, never held in memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row, parts = zlib.compressobj(9), b"\x00" + bytes(side * 3), []
    for _ in range(side):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts))
                     + chunk(b"IEND", b""))
    return path


def write_fast_flac(path: Path, rate: int = 655_350, seconds: int = 300) -> Path:
    """Five minutes of silence at 655,350 Hz: 84 KB on disk, 786 MB as float32."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        for start in range(0, rate * seconds, rate):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, rate), np.int16), format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_big_h264(path: Path, side: int = 4096) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame(side, side, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for index in range(2):
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def run_measured(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run `facecast ARGS` in a child; returns it and the child's peak RSS in MB."""
    # VmHWM belongs to this process image; ru_maxrss would carry the (large) test process's peak across exec.
    code = ("import re, sys; from facecast.cli import app\n"
            "try:\n    app(sys.argv[1:])\n"
            "finally:\n    status = open('/proc/self/status').read()\n"
            "    print('PEAK', re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    peak_kb = int(done.stderr.rsplit("PEAK", 1)[1].split()[0])
    return done, peak_kb / 1024


@pytest.mark.parametrize("maker, expected", [
    (write_huge_png, "over 179 million pixels"),
    (write_big_h264, "4096x4096"),
])
def test_templates_over_the_pixel_limit_are_refused_before_decoding(tmp_path: Path, eng_wav: Path,
                                                                    maker, expected: str) -> None:
    template = maker(tmp_path / ("t.png" if maker is write_huge_png else "t.mp4"))
    done, peak_mb = run_measured("generate", "-t", str(template), "-a", str(eng_wav), "-o", str(tmp_path / "o.mp4"),
                                 "--cache-dir", str(tmp_path / "cache"), "-q")
    assert done.returncode == 2, done.stderr
    assert "[media_too_large]" in done.stderr and expected in done.stderr and "max_pixels" in done.stderr
    assert peak_mb < PEAK_RSS_LIMIT_MB
    assert not (tmp_path / "o.mp4").exists()


def test_audio_over_the_sample_rate_limit_is_refused_before_decoding(tmp_path: Path, sun_mp4: Path) -> None:
    audio = write_fast_flac(tmp_path / "fast.flac")
    assert audio.stat().st_size < 200_000
    done, peak_mb = run_measured("probe", str(audio))
    assert done.returncode == 2 and "[media_too_large]" in done.stderr and "655,350 Hz" in done.stderr
    assert peak_mb < PEAK_RSS_LIMIT_MB
    done, peak_mb = run_measured("generate", "-t", str(sun_mp4), "-a", str(audio), "-o", str(tmp_path / "o.mp4"),
                                 "--cache-dir", str(tmp_path / "cache"), "-q")
    assert done.returncode == 2 and "[media_too_large]" in done.stderr, done.stderr
    assert peak_mb < PEAK_RSS_LIMIT_MB


def test_high_rate_audio_within_the_limit_is_resampled_while_decoding(tmp_path: Path) -> None:
    from facecast.engine.media import MAX_WORKING_RATE, load_audio

    audio = write_fast_flac(tmp_path / "hi.flac", rate=96_000, seconds=2)
    clip = load_audio(audio)
    assert clip.sample_rate == MAX_WORKING_RATE and abs(clip.duration_s - 2.0) < 0.01


def test_videos_and_sounds_are_probed_without_pillow_and_pictures_with_it(tmp_path: Path, sun_mp4: Path,
                                                                          eng_wav: Path) -> None:
    """Pillow reads a picture's size from its header; asked about an MP4 or a WAV it imports every format plugin
    it has only to say no. Videos and sounds skip it; a huge picture disguised as an .mp4 is still refused."""
    disguised = write_huge_png(tmp_path / "picture.mp4", side=9000)
    script = (f"import sys\nfrom pathlib import Path\nfrom facecast.engine.media import probe\n"
              f"probe(Path({str(sun_mp4)!r})); probe(Path({str(eng_wav)!r}))\nprint('PIL' in sys.modules)\n"
              f"try:\n    probe(Path({str(disguised)!r}))\nexcept Exception as error:\n    print(type(error).__name__)\n")
    lines = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120).stdout.split()
    assert lines == ["False", "MediaTooLargeError"]
