"""probe, frame iteration (rotation, VFR, containers, images, ping-pong) and load_audio on real media."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest

from facecast.engine import media
from facecast.engine.errors import (
    AudioTooLongError,
    EmptyAudioError,
    InputNotFoundError,
    UnreadableInputError,
)
from facecast.engine.media import (
    iter_frames,
    iter_pingpong_frames,
    load_audio,
    pingpong_indices,
    probe,
    resample_audio,
)
from facecast.engine.options import Limits
from facecast.engine.speech_types import AudioClip
from tests.conftest import (
    MEDIA_DIR,
    frame_level,
    pattern_frames,
    psnr,
    read_rgb_frames,
    write_audio,
    write_empty_wav,
    write_video,
)


# ---- probe on the shared media ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "kind", "size", "fps", "frame_count", "duration_s", "has_audio"),
    [
        ("sun.mp4", "video", (576, 768), 25.0, 550, 22.0, False),
        ("talking_woman_480.mp4", "video", (480, 480), 30.0, 1008, 33.6, True),
        ("talking_man_480.mp4", "video", (480, 480), 30.0, 216, 7.2, True),
        ("fullbody_small_face.mp4", "video", (720, 1080), 25.0, 103, 4.12, True),
        ("portrait.jpg", "image", (600, 704), 25.0, 1, 0.04, False),
        ("eng.wav", "audio", (0, 0), 0.0, 0, 60.0, True),
        ("sun.wav", "audio", (0, 0), 0.0, 0, 22.489, True),
    ],
)
def test_probe_shared_media(name, kind, size, fps, frame_count, duration_s, has_audio):
    info = probe(MEDIA_DIR / name)
    assert (info.kind, (info.width, info.height), info.fps, info.frame_count) == (kind, size, fps, frame_count)
    assert info.duration_s == pytest.approx(duration_s, abs=0.01)
    assert info.has_audio is has_audio
    assert info.rotation == 0
    if has_audio:
        assert info.audio_sample_rate in (16000, 44100) and info.audio_channels in (1, 2)


def test_iter_frames_matches_decoder_and_count(talking_man_mp4):
    info = probe(talking_man_mp4)
    frames = list(iter_frames(talking_man_mp4, info))
    assert len(frames) == info.frame_count
    truth = read_rgb_frames(talking_man_mp4, limit=5)
    assert all(f.dtype == np.uint8 and f.shape == (480, 480, 3) for f in frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, truth))
    later = list(iter_frames(talking_man_mp4, info, start=200))  # a seek, not a decode from the start
    assert len(later) == 16 and all(np.array_equal(a, b) for a, b in zip(later, frames[200:]))


# ---- rotation --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rotation_ccw", "rotation", "red_corner"), [
    (-90, 90, "top_right"),   # a phone held upright: the classic rotate=90 tag
    (90, 270, "bottom_left"),
    (180, 180, "bottom_right"),
])
def test_rotated_video_decodes_upright(tmp_path, rotation_ccw, rotation, red_corner):
    path = write_video(tmp_path / "rotated.mp4", pattern_frames(10), rotation_ccw=rotation_ccw)
    info = probe(path)
    assert info.rotation == rotation
    expected_size = (96, 64) if rotation == 180 else (64, 96)
    assert (info.width, info.height) == expected_size
    frame = next(iter_frames(path, info))
    assert frame.shape == (info.height, info.width, 3)
    h, w = frame.shape[:2]
    corners = {"top_left": frame[: h // 4, : w // 4], "top_right": frame[: h // 4, -w // 4:],
               "bottom_left": frame[-h // 4:, : w // 4], "bottom_right": frame[-h // 4:, -w // 4:]}
    reddest = max(corners, key=lambda k: corners[k][..., 0].mean() - corners[k][..., 1].mean())
    assert reddest == red_corner


def test_exif_orientation_is_honoured(tmp_path):
    plain = write_video(tmp_path / "plain.jpg", pattern_frames(1), codec="mjpeg", pix_fmt="yuvj420p",
                        container_format="image2")
    rotated = tmp_path / "phone.jpg"
    rotated.write_bytes(_with_exif_orientation(plain.read_bytes(), 6))  # 6: rotate 90 clockwise to view
    info = probe(rotated)
    assert (info.kind, info.rotation, info.width, info.height) == ("image", 90, 64, 96)
    frame = next(iter_frames(rotated, info))
    assert frame[:10, -10:, 0].mean() > 200 and frame[:10, -10:, 1].mean() < 60  # red now top right


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert a minimal EXIF APP1 segment holding only the Orientation tag after the SOI marker."""
    ifd = (1).to_bytes(2, "big") + bytes.fromhex("0112 0003 00000001") + orientation.to_bytes(2, "big")
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + ifd + b"\x00\x00" + b"\x00\x00\x00\x00"
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


# ---- variable frame rate ---------------------------------------------------------------------------------

def test_variable_frame_rate_becomes_constant(tmp_path):
    # 25 fps slots are 40 ms apart. Frames 3-4 are missing (the previous frame must repeat), an extra frame
    # lands 30 ms after slot 8 (it is on screen at slot 9, replacing nothing) and one 10 ms after slot 12
    # is overtaken by the frame at slot 13 before any slot shows it (it must be dropped).
    pts_ms = [0, 40, 80, 200, 240, 280, 320, 350, 400, 440, 480, 490, 520, 560, 600, 640, 680, 720, 760, 800]
    path = write_video(tmp_path / "vfr.mp4", pattern_frames(len(pts_ms)), pts_ms=pts_ms)
    info = probe(path)
    assert info.frame_count == round(info.duration_s * info.fps)
    levels = [frame_level(f) for f in iter_frames(path, info)]
    assert len(levels) == info.frame_count
    slot_ms = 1000 / info.fps
    expected = [max(k for k, t in enumerate(pts_ms) if t <= i * slot_ms + 0.1 * slot_ms)
                for i in range(info.frame_count)]
    assert levels == expected
    assert 2 in levels and 10 not in levels  # a repeat and a drop both happened


# ---- other containers and codecs -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "codec", "container_format"), [
    ("clip.webm", "libvpx", "webm"),
    ("clip_vp9.webm", "libvpx-vp9", "webm"),
    ("clip.mkv", "libx264", "matroska"),
    ("clip.mov", "libx264", "mov"),
    ("clip_mpeg4.mov", "mpeg4", "mov"),
])
def test_containers_and_codecs(tmp_path, name, codec, container_format):
    source = pattern_frames(25, width=160, height=120)
    options = {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "0"} if "vpx" in codec else None
    path = write_video(tmp_path / name, source, fps=25, codec=codec, container_format=container_format,
                       codec_options=options)
    info = probe(path)
    assert (info.kind, info.width, info.height, info.fps, info.frame_count) == ("video", 160, 120, 25.0, 25)
    levels = [frame_level(f) for f in iter_frames(path, info)]
    assert levels == list(range(25))


@pytest.mark.parametrize(("name", "codec", "pix_fmt", "alpha"), [
    ("still.png", "png", "rgba", True),
    ("still.webp", "libwebp", "yuva420p", True),
    ("still.jpg", "mjpeg", "yuvj420p", False),
])
def test_images(tmp_path, name, codec, pix_fmt, alpha):
    rgb = pattern_frames(1)[0]
    expected = rgb.copy()
    path = tmp_path / name
    with av.open(str(path), mode="w", format="image2") as container:
        stream = container.add_stream(codec, rate=1, options={"lossless": "1"} if codec == "libwebp" else {})
        stream.width, stream.height, stream.pix_fmt = 96, 64, pix_fmt
        if alpha:
            rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
            rgba[:, :8, 3] = 0  # a transparent left edge, flattened over white
            expected[:, :8] = 255
            source = av.VideoFrame.from_ndarray(rgba, format="rgba")
        else:
            source = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        container.mux(stream.encode(source))
        container.mux(stream.encode(None))
    info = probe(path)
    assert (info.kind, info.width, info.height, info.frame_count, info.fps) == ("image", 96, 64, 1, 25.0)
    frames = list(iter_frames(path, info))
    assert len(frames) == 1 and frames[0].shape == (64, 96, 3)
    assert psnr(frames[0], expected) > 30


def test_portrait_image_ping_pongs_as_a_still(portrait_jpg):
    info = probe(portrait_jpg)
    pairs = list(iter_pingpong_frames(portrait_jpg, info, 5))
    assert [i for i, _ in pairs] == [0] * 5
    assert all(np.array_equal(f, pairs[0][1]) for _, f in pairs) and pairs[0][1].shape == (704, 600, 3)


# ---- ping-pong -------------------------------------------------------------------------------------------

def test_pingpong_indices():
    assert list(pingpong_indices(4, 12)) == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]
    assert list(pingpong_indices(4, 4, start=5)) == [1, 0, 1, 2]
    assert list(pingpong_indices(1, 3)) == [0, 0, 0]
    assert list(pingpong_indices(2, 5)) == [0, 1, 0, 1, 0]


@pytest.fixture(scope="module")
def two_second_clip(tmp_path_factory, talking_man_mp4) -> Path:
    frames = read_rgb_frames(talking_man_mp4, limit=60)
    path = tmp_path_factory.mktemp("pingpong") / "two_seconds.mp4"
    return write_video(path, frames, fps=30, codec_options={"g": "25"})


def test_pingpong_order_and_frames(two_second_clip):
    info = probe(two_second_clip)
    forward = list(iter_frames(two_second_clip, info))
    count = 3 * info.frame_count
    pairs = list(iter_pingpong_frames(two_second_clip, info, count, start=10))
    assert [i for i, _ in pairs] == list(pingpong_indices(info.frame_count, count, start=10))
    assert pairs[49][0] == 59 and pairs[50][0] == 58  # the far end is shown once
    assert all(np.array_equal(frame, forward[index]) for index, frame in pairs)


def test_pingpong_memory_is_bounded(two_second_clip, monkeypatch):
    info = probe(two_second_clip)
    frame_bytes = info.width * info.height * 3
    monkeypatch.setattr(media, "_MAX_CHUNK_FRAMES", 16)
    tracemalloc.start()
    try:
        for _ in iter_pingpong_frames(two_second_clip, info, 2 * info.frame_count):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * frame_bytes < info.frame_count * frame_bytes  # one 16-frame chunk, not the template


def test_a_backward_run_starts_from_the_kept_end_of_the_forward_run(two_second_clip, monkeypatch):
    """The frames the backward run shows first were just shown going forward: they are not decoded again."""
    info = probe(two_second_clip)
    n, chunk = info.frame_count, 16
    monkeypatch.setattr(media, "_MAX_CHUNK_FRAMES", chunk)
    decoded_runs = []
    decode = media._CfrReader.frames

    def recorded(reader, first, stop):
        decoded_runs.append((first, stop))
        yield from decode(reader, first, stop)

    monkeypatch.setattr(media._CfrReader, "frames", recorded)
    assert len(list(iter_pingpong_frames(two_second_clip, info, 2 * n - 1))) == 2 * n - 1
    assert decoded_runs[0] == (0, n) and (n - 1 - chunk, n - 1) not in decoded_runs
    assert decoded_runs[1] == (n - 1 - 2 * chunk, n - 1 - chunk)


# ---- audio -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def speech_3s(eng_wav) -> AudioClip:
    clip = load_audio(eng_wav)
    rate = clip.sample_rate  # seconds 3-6: the first three seconds are near silence
    return AudioClip(samples=clip.samples[3 * rate: 6 * rate], sample_rate=rate)


@pytest.mark.parametrize(("name", "codec", "channels", "out_rate", "container_format", "options"), [
    ("speech_16k.wav", "pcm_s16le", 1, 16000, None, None),
    ("speech_44k_stereo.wav", "pcm_s16le", 2, 44100, None, None),
    ("speech.mp3", "libmp3lame", 2, 44100, None, None),
    ("speech.m4a", "aac", 1, 44100, "ipod", None),
    ("speech.aac", "aac", 2, 48000, "adts", None),
    ("speech.ogg", "vorbis", 2, 44100, "ogg", {"strict": "experimental"}),
    ("speech.opus", "libopus", 1, 48000, "opus", None),
    ("speech.flac", "flac", 1, 22050, None, None),
])
def test_load_audio_formats(tmp_path, speech_3s, name, codec, channels, out_rate, container_format, options):
    path = write_audio(tmp_path / name, speech_3s.samples, speech_3s.sample_rate, codec=codec, channels=channels,
                       container_format=container_format, out_rate=out_rate, codec_options=options)
    clip = load_audio(path)
    assert clip.sample_rate == out_rate and clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert -1.0 <= clip.samples.min() and clip.samples.max() <= 1.0 and np.abs(clip.samples).max() > 0.1
    # Raw ADTS has no encoder-delay field, so decoders keep the AAC priming frame and end padding.
    tolerance_s = 3.0 * 0.001 if codec != "aac" or container_format != "adts" else 2 * 1024 / out_rate
    assert clip.duration_s == pytest.approx(3.0, abs=tolerance_s)
    at_16k = load_audio(path, sample_rate=16000)
    assert at_16k.sample_rate == 16000
    assert at_16k.duration_s == pytest.approx(clip.duration_s, abs=0.001)


def test_load_audio_from_video_track(talking_man_mp4, fullbody_mp4):
    clip = load_audio(talking_man_mp4)  # a real AAC stereo track; this one is digital silence, still valid
    assert clip.sample_rate == 44100 and clip.duration_s == pytest.approx(7.2, abs=0.0072)
    speech = load_audio(fullbody_mp4, sample_rate=16000)
    assert speech.duration_s == pytest.approx(probe(fullbody_mp4).duration_s, abs=0.05)
    assert np.abs(speech.samples).max() > 0.1


def test_resample_audio_keeps_length_and_pitch():
    rate = 16000
    t = np.arange(2 * rate) / rate
    clip = AudioClip(samples=(0.5 * np.sin(2 * math.pi * 440 * t)).astype(np.float32), sample_rate=rate)
    out = resample_audio(clip, 44100)
    assert out.dtype == np.float32 and out.size == 2 * 44100
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 44100 / out.size - 440) < 1
    assert resample_audio(clip, rate) is clip.samples


# ---- bad inputs ------------------------------------------------------------------------------------------

def _truncated_mp4(tmp_path: Path, source: Path) -> Path:
    path = tmp_path / "truncated.mp4"
    path.write_bytes(source.read_bytes()[:20_000])
    return path


def _text_as_mp4(tmp_path: Path, _: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("meeting notes, not a video\n" * 50)
    return path


def _directory(tmp_path: Path, _: Path) -> Path:
    path = tmp_path / "folder.mp4"
    path.mkdir()
    return path


def _missing(tmp_path: Path, _: Path) -> Path:
    return tmp_path / "missing.mp4"


def _empty_file(tmp_path: Path, _: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(("make", "error"), [
    (_missing, InputNotFoundError),
    (_directory, UnreadableInputError),
    (_truncated_mp4, UnreadableInputError),
    (_text_as_mp4, UnreadableInputError),
    (_empty_file, UnreadableInputError),
])
def test_bad_templates(tmp_path, talking_man_mp4, make, error):
    path = make(tmp_path, talking_man_mp4)
    with pytest.raises(error) as raised:
        probe(path)
    assert path.name in str(raised.value)
    with pytest.raises(error):
        load_audio(path)


def test_zero_sample_wav(tmp_path):
    path = write_empty_wav(tmp_path / "silence0.wav")
    with pytest.raises(EmptyAudioError, match="silence0.wav"):
        load_audio(path)


def test_audio_over_the_limit_is_refused_from_the_header(eng_wav):
    with pytest.raises(AudioTooLongError) as raised:
        load_audio(eng_wav, Limits(max_audio_s=5))
    message = str(raised.value)
    assert "eng.wav" in message and "60.0 s" in message and "5 s" in message and "max_audio_s" in message


def test_audio_over_the_limit_without_header_duration(tmp_path, speech_3s):
    # ADTS has no duration in its header: the limit is enforced while decoding
    path = write_audio(tmp_path / "long.aac", np.tile(speech_3s.samples, 3), 16000, codec="aac",
                       container_format="adts")
    with pytest.raises(AudioTooLongError, match="long.aac"):
        load_audio(path, Limits(max_audio_s=5))


def test_video_without_audio_track(sun_mp4):
    with pytest.raises(EmptyAudioError, match="sun.mp4 has no audio track"):
        load_audio(sun_mp4)


def test_silent_audio_is_valid(tmp_path):
    path = write_audio(tmp_path / "quiet.wav", np.zeros(8000, np.float32), 16000)
    clip = load_audio(path)
    assert clip.duration_s == 0.5 and not clip.samples.any()
