"""The inputs people actually give `facecast generate`, through the real CLI, checked on the written MP4.

Templates are cut to 1-2 s and speech to 1-3 s from the shared media so each case costs a few seconds.
Frame order (ping-pong, --start-frame) is read back from a grey band the template carries along its top edge,
one level per template frame, far from the face the renderer touches.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from facecast.engine.evaluate import measure_openings
from facecast.engine.landmarks import CHIN, FOREHEAD, NOSE_TIP
from facecast.engine.media import iter_frames, load_audio, pingpong_indices, probe
from tests.support.cli import run_facecast as facecast
from tests.support.media import read_rgb_frames as decode_rgb, write_audio, write_video


def child_cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture(scope="module")
def speech(eng_wav: Path):
    """speech(folder, seconds): eng.wav from 3 s on (the first seconds are near silence), as a 16 kHz WAV."""
    clip = load_audio(eng_wav)

    def make(where: Path, seconds: float) -> Path:
        path = where / f"speech_{seconds:g}s.wav"
        if not path.exists():
            write_audio(path, clip.samples[3 * clip.sample_rate: int((3 + seconds) * clip.sample_rate)], clip.sample_rate)
        return path

    return make


@pytest.fixture(scope="module")
def talking_frames(talking_man_mp4: Path) -> list[np.ndarray]:
    return decode_rgb(talking_man_mp4, limit=30)


BAND_ROWS = 24


def mark(frame: np.ndarray, index: int) -> np.ndarray:
    """The frame with its top rows painted grey level 8 * index + 20 (readable back through h264)."""
    marked = frame.copy()
    marked[:BAND_ROWS] = 8 * index + 20
    return marked


def band_index(frame: np.ndarray) -> int:
    return int(round((float(frame[4:BAND_ROWS - 4].mean()) - 20) / 8))


@pytest.fixture(scope="module")
def talking_1s(folder: Path, talking_frames: list[np.ndarray]) -> Path:
    """30 frames (1 s at 30 fps) of the talking man, 480x480, each marked with its index (see mark)."""
    marked = [mark(frame, index) for index, frame in enumerate(talking_frames)]
    return write_video(folder / "talking_1s.mp4", marked, fps=30, codec_options={"crf": "16"})


@pytest.fixture(scope="module")
def sun_2s(folder: Path, sun_mp4: Path) -> Path:
    """50 frames (2 s at 25 fps) of sun.mp4, 576x768."""
    return write_video(folder / "sun_2s.mp4", decode_rgb(sun_mp4, limit=50), fps=25, codec_options={"crf": "16"})


def generate(template: Path, audio: Path, output: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    done = facecast("generate", "-t", str(template), "-a", str(audio), "-o", str(output), "--cache-dir", str(cache),
                    "-q", *extra)
    assert done.returncode == 0, done.stderr
    assert output.is_file()
    return done


def assert_duration(path: Path, seconds: float) -> None:
    info = probe(path)
    assert abs(info.duration_s - seconds) <= 1 / info.fps + 0.03, (info.duration_s, seconds)


def upper_half(frame: np.ndarray) -> np.ndarray:
    small = cv2.resize(frame[: frame.shape[0] * 2 // 5], (96, 40), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32)


def template_indices(output: Path) -> list[int]:
    """The template frame each output frame was made from, read from the band (see mark)."""
    return [band_index(frame) for frame in decode_rgb(output)]


# ---- templates -------------------------------------------------------------------------------------------

def test_photo_template_becomes_a_moving_25fps_video(tmp_path: Path, cache: Path, speech, portrait_jpg: Path) -> None:
    audio = speech(tmp_path, 3.0)
    output = tmp_path / "photo.mp4"
    generate(portrait_jpg, audio, output, cache)
    info = probe(output)
    assert info.fps == 25.0 and info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.width, info.height) == (600, 704)
    assert_duration(output, 3.0)

    tracks, openings, _ = measure_openings(output)
    assert tracks.coverage >= 0.9
    # Not frozen: the face above the nose (eyes, brows, forehead) moves between frames: sway and blinks.
    points = tracks.points[int(np.argmax(tracks.present))]
    x0, x1 = int(points[:, 0].min()), int(points[:, 0].max())
    y0, y1 = int(points[FOREHEAD, 1]), int(points[NOSE_TIP, 1])
    frames = [frame[y0:y1, x0:x1].astype(np.float32) for frame in iter_frames(output, info)]
    steps = np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])
    assert np.median(steps) > 0.1, steps.round(2)  # a frozen face gives ~0: h264 copies still blocks exactly
    assert max(np.abs(frame - frames[0]).mean() for frame in frames) > 1.0


def test_full_body_small_face_is_found_and_lip_synced(tmp_path: Path, cache: Path, speech, fullbody_mp4: Path) -> None:
    audio = speech(tmp_path, 3.0)
    output = tmp_path / "fullbody.mp4"
    generate(fullbody_mp4, audio, output, cache)
    assert (probe(output).width, probe(output).height) == (720, 1080)
    done = facecast("eval", str(output), "--audio", str(audio), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["face_coverage"] >= 0.8
    assert report["travel"] >= 0.03


# ---- audio -----------------------------------------------------------------------------------------------

AUDIO_FORMATS = {  # name: (codec, channels, rate, container, codec options)
    "speech.mp3": ("libmp3lame", 2, 44100, None, None),
    "speech.m4a": ("aac", 1, 44100, "ipod", None),
    "speech.ogg": ("vorbis", 2, 44100, "ogg", {"strict": "experimental"}),
    "speech.flac": ("flac", 1, 22050, None, None),
    "speech.opus": ("libopus", 1, 48000, "opus", None),
}


@pytest.mark.parametrize("name", AUDIO_FORMATS)
def test_audio_formats(name: str, tmp_path: Path, cache: Path, eng_wav: Path, talking_1s: Path) -> None:
    codec, channels, rate, container_format, options = AUDIO_FORMATS[name]
    clip = load_audio(eng_wav)
    audio = write_audio(tmp_path / name, clip.samples[3 * 16000: 5 * 16000], 16000, codec=codec, channels=channels,
                        container_format=container_format, out_rate=rate, codec_options=options)
    output = tmp_path / "out.mp4"
    generate(talking_1s, audio, output, cache)
    assert probe(output).audio_codec == "aac"
    assert_duration(output, 2.0)


def test_video_file_as_audio(tmp_path: Path, cache: Path, talking_1s: Path, talking_man_mp4: Path) -> None:
    output = tmp_path / "out.mp4"
    generate(talking_1s, talking_man_mp4, output, cache)
    assert_duration(output, load_audio(talking_man_mp4).duration_s)


def test_audio_longer_than_template_plays_it_back_and_forth(tmp_path: Path, cache: Path, speech,
                                                             talking_1s: Path) -> None:
    output = tmp_path / "pingpong.mp4"
    generate(talking_1s, speech(tmp_path, 3.0), output, cache)
    assert_duration(output, 3.0)
    # 0..29, 28..0, 1..29, 28..: no jump cut back to the first frame, no repeated end frames
    assert template_indices(output) == list(pingpong_indices(30, 90))
    assert template_indices(output)[27:33] == [27, 28, 29, 28, 27, 26]


def test_start_frame(tmp_path: Path, cache: Path, speech, talking_1s: Path) -> None:
    output = tmp_path / "start.mp4"
    generate(talking_1s, speech(tmp_path, 1.0), output, cache, "--start-frame", "20")
    assert template_indices(output) == list(range(20, 30)) + list(range(28, 8, -1))


# ---- output size and orientation -------------------------------------------------------------------------

@pytest.mark.parametrize(("template_name", "max_height", "size"), [
    ("sun_2s", 360, (270, 360)),        # 576x768 scaled by 360/768
    ("talking_1s", 241, (240, 240)),    # an odd height is rounded down to even, and the width with it
])
def test_max_height(template_name: str, max_height: int, size: tuple[int, int], request: pytest.FixtureRequest,
                    tmp_path: Path, cache: Path, speech) -> None:
    template = request.getfixturevalue(template_name)
    output = tmp_path / "small.mp4"
    generate(template, speech(tmp_path, 1.0), output, cache, "--max-height", str(max_height))
    info = probe(output)
    assert (info.width, info.height) == size
    assert info.width % 2 == 0 and info.height % 2 == 0


def test_rotated_template_gives_upright_output(tmp_path: Path, cache: Path, speech,
                                               talking_frames: list[np.ndarray]) -> None:
    upright = [np.ascontiguousarray(frame[:, 60:420]) for frame in talking_frames]  # 360 wide, 480 tall
    stored = [np.ascontiguousarray(np.rot90(frame, k=1)) for frame in upright]   # 480 wide, 360 tall on disk
    template = write_video(tmp_path / "phone.mp4", stored, fps=30, rotation_ccw=-90, codec_options={"crf": "16"})
    output = tmp_path / "upright.mp4"
    generate(template, speech(tmp_path, 1.0), output, cache)
    info = probe(output)
    assert (info.width, info.height, info.rotation) == (360, 480, 0)
    tracks, _, _ = measure_openings(output)
    assert tracks.coverage >= 0.9
    points = tracks.points[tracks.present]
    assert np.all(points[:, FOREHEAD, 1] < points[:, CHIN, 1])  # forehead above chin: upright
    first = decode_rgb(output, limit=1)[0]
    assert np.abs(upper_half(first) - upper_half(upright[0])).mean() < 8


# ---- cache -----------------------------------------------------------------------------------------------

def test_second_prepare_reuses_the_cache(tmp_path: Path, talking_man_mp4: Path) -> None:
    cache = tmp_path / "cache"
    runs = []
    for _ in range(2):
        before = child_cpu_s()
        done = facecast("prepare", str(talking_man_mp4), "--cache-dir", str(cache), "-q")
        assert done.returncode == 0, done.stderr
        cache_path = Path(re.search(r"cache (\S+)$", done.stdout.strip()).group(1))
        runs.append((child_cpu_s() - before, cache_path))
        if len(runs) == 1:
            stamps = {p.name: p.stat().st_mtime_ns for p in cache_path.iterdir()}
    (first_cpu, first_path), (second_cpu, second_path) = runs
    assert second_path == first_path and first_path.parent == cache
    assert [p.name for p in cache.iterdir()] == [first_path.name]  # no second entry, no staging dir left
    assert {p.name: p.stat().st_mtime_ns for p in first_path.iterdir()} == stamps
    assert "tracks.npz" in stamps
    assert second_cpu < 0.6 * first_cpu, (first_cpu, second_cpu)  # 216 frames tracked once, not twice


# ---- several faces ---------------------------------------------------------------------------------------

def test_face_option_picks_left_or_right_face(tmp_path: Path, cache: Path, speech, sun_mp4: Path,
                                              talking_frames: list[np.ndarray]) -> None:
    suns = [cv2.resize(frame, (360, 480), interpolation=cv2.INTER_AREA) for frame in decode_rgb(sun_mp4, limit=30)]
    pairs = [np.hstack([man, sun]) for man, sun in zip(talking_frames, suns)]  # 840x480: man left, woman right
    template = write_video(tmp_path / "two_faces.mp4", pairs, fps=30, codec_options={"crf": "16"})
    source = decode_rgb(template)
    changed = {}
    for face in ("0", "1"):
        output = tmp_path / f"face{face}.mp4"
        generate(template, speech(tmp_path, 1.0), output, cache, "--face", face)
        counts = np.zeros(2)
        for before, after in zip(source, decode_rgb(output)):
            diff = cv2.GaussianBlur(np.abs(after.astype(np.int16) - before).max(axis=2).astype(np.uint8), (5, 5), 0)
            counts += [(diff[:, :480] > 30).sum(), (diff[:, 480:] > 30).sum()]
        changed[face] = counts
    assert changed["0"][0] > 5 * max(changed["0"][1], 1), changed
    assert changed["1"][1] > 5 * max(changed["1"][0], 1), changed
