"""VideoWriter output (codecs, faststart, duration, size), atomic_output and transcode_plain, on real media."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from facecast.engine.encode import VideoWriter, encode_frames, output_size, transcode_plain
from facecast.engine.files import atomic_output, cached_arrays, write_bytes_atomic, write_json_atomic, write_text_atomic
from facecast.engine.errors import CanceledError, InvalidOptionError
from facecast.engine.media import iter_frames, load_audio, probe
from facecast.engine.options import EncodeOptions
from facecast.engine.speech_packets import SPEECH_PACKETS
from facecast.engine.speech_types import AudioClip
from tests.conftest import psnr


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order."""
    boxes, data, offset = [], path.read_bytes(), 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        boxes.append(data[offset + 4:offset + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        if size < 8:
            break
        offset += size
    return boxes


@pytest.fixture(scope="module")
def speech(eng_wav) -> AudioClip:
    clip = load_audio(eng_wav)
    return AudioClip(samples=clip.samples[3 * 16000: 5 * 16000 + 1234], sample_rate=16000)


def frames_for(clip: AudioClip, fps: float) -> int:
    return math.ceil(clip.duration_s * fps)


@pytest.mark.parametrize(("size", "max_height", "expected"), [
    ((576, 768), None, (576, 768)),
    ((575, 767), None, (574, 766)),
    ((720, 1280), 640, (360, 640)),
    ((721, 1281), 640, (360, 640)),
    ((480, 480), 720, (480, 480)),  # never upscales
    ((1080, 1920), 1000, (562, 1000)),
])
def test_output_size(size, max_height, expected):
    assert output_size(*size, max_height) == expected


def test_output_size_refuses_degenerate():
    with pytest.raises(InvalidOptionError):
        output_size(1, 100, None)


def test_video_writer_output(tmp_path, sun_mp4, speech):
    info = probe(sun_mp4)
    count = frames_for(speech, info.fps)
    out = tmp_path / "out.mp4"
    with atomic_output(out) as tmp:
        written = encode_frames(itertools.islice(iter_frames(sun_mp4, info), count), tmp, info.width,
                                info.height, info.fps, speech, EncodeOptions())
    assert written == count
    result = probe(out)
    assert (result.width, result.height, result.frame_count, result.fps) == (576, 768, count, 25.0)
    assert (result.video_codec, result.audio_codec, result.audio_channels) == ("h264", "aac", 1)
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.pix_fmt == "yuv420p"
        audio_s = float(audio.duration * audio.time_base)
    assert abs(audio_s - count / 25) <= 1 / 25 and abs(result.duration_s - speech.duration_s) <= 1 / 25
    decoded = load_audio(out)
    assert abs(decoded.duration_s - count / 25) <= 1 / 25
    sent, heard = speech.samples, decoded.samples[:speech.samples.size]
    assert 10 * np.log10(np.sum(sent ** 2) / np.sum((sent - heard) ** 2)) > 30  # the speech as it was sent, in dB
    boxes = top_level_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # faststart
    first = next(iter_frames(out, result))
    assert psnr(first, next(iter_frames(sun_mp4, info))) > 30


def test_odd_size_max_height_and_ntsc_rate(tmp_path, talking_man_mp4, speech):
    info = probe(talking_man_mp4)
    frames = [f[:479, :477] for f in itertools.islice(iter_frames(talking_man_mp4, info), 30)]
    out = tmp_path / "small.mp4"
    with VideoWriter(out, 477, 479, 30000 / 1001, speech, EncodeOptions(max_height=240, crf=28)) as writer:
        for frame in frames:
            writer.write(frame)
    result = probe(out)
    assert (result.width, result.height, result.frame_count) == (238, 240, 30)
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)
    assert abs(load_audio(out).duration_s - 30 * 1001 / 30000) <= 1001 / 30000  # speech cut to the video


def test_audio_shorter_than_video_is_padded(tmp_path, sun_mp4, speech):
    short = AudioClip(samples=speech.samples[:8000], sample_rate=16000)  # 0.5 s under 1 s of video
    out = tmp_path / "padded.mp4"
    info = probe(sun_mp4)
    encode_frames(itertools.islice(iter_frames(sun_mp4, info), 25), out, info.width, info.height, 25, short,
                  EncodeOptions(max_height=128))
    clip = load_audio(out)
    assert clip.duration_s == pytest.approx(1.0, abs=0.04)
    assert not clip.samples[int(0.6 * 16000):].any()


def test_uncommon_audio_rate_is_resampled(tmp_path, sun_mp4):
    clip = AudioClip(samples=np.zeros(10000, np.float32), sample_rate=10000)
    out = tmp_path / "rate.mp4"
    info = probe(sun_mp4)
    encode_frames(itertools.islice(iter_frames(sun_mp4, info), 25), out, info.width, info.height, 25, clip,
                  EncodeOptions(max_height=128))
    assert probe(out).audio_sample_rate == 48000


def test_atomic_output_publishes_only_on_success(tmp_path):
    out = tmp_path / "nested" / "result.mp4"
    with atomic_output(out) as tmp:
        assert tmp.parent == out.parent and tmp.suffix == ".mp4" and tmp.name.startswith(".")
        tmp.write_bytes(b"complete")
    assert out.read_bytes() == b"complete"
    assert sorted(p.name for p in out.parent.iterdir()) == ["result.mp4"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), CanceledError("canceled"), KeyboardInterrupt()])
def test_atomic_output_leaves_nothing_on_error(tmp_path, sun_mp4, speech, error):
    out = tmp_path / "result.mp4"
    out.write_bytes(b"previous result")
    info = probe(sun_mp4)
    with pytest.raises(type(error)):
        with atomic_output(out) as tmp:
            with VideoWriter(tmp, info.width, info.height, info.fps, speech, EncodeOptions(max_height=128)) as w:
                for index, frame in enumerate(iter_frames(sun_mp4, info)):
                    w.write(frame)
                    if index == 5:
                        raise error
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.mp4"]


def test_write_helpers_replace_whole_files(tmp_path):
    target = tmp_path / "deep" / "data.json"
    write_json_atomic(target, {"text": "你好"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"text": "你好"} and "你好" in target.read_text("utf-8")
    write_text_atomic(target, "replaced")
    assert target.read_text(encoding="utf-8") == "replaced"
    write_bytes_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in target.parent.iterdir()] == ["data.json"]


def test_write_helpers_leave_the_old_file_when_the_content_fails(tmp_path):
    target = tmp_path / "data.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(TypeError):
        write_json_atomic(target, {"not json": object()})
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "\ud800")  # a lone surrogate cannot be written as UTF-8
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_transcode_plain(tmp_path, talking_man_mp4):
    out = tmp_path / "plain.mp4"
    info = probe(talking_man_mp4)
    transcode_plain(talking_man_mp4, out, EncodeOptions(max_height=240), info.frame_count + 20)
    result = probe(out)
    assert (result.width, result.height, result.frame_count, result.has_audio) == (240, 240, 236, False)


def _audio_packets(path: Path) -> list[tuple[bytes, int | None, int | None]]:
    with av.open(str(path)) as container:
        return [(bytes(p), p.pts, p.duration) for p in container.demux(container.streams.audio[0]) if p.size]


def test_a_second_video_with_the_same_speech_muxes_the_first_ones_packets(tmp_path, talking_man_mp4, speech):
    info = probe(talking_man_mp4)
    frames = list(itertools.islice(iter_frames(talking_man_mp4, info), 45))  # 1.5 s of the speech
    options = EncodeOptions(max_height=240)

    def write(name: str, clip: AudioClip, count: int) -> Path:
        with VideoWriter(tmp_path / name, info.width, info.height, info.fps, clip, options,
                         frame_count=count) as writer:
            for frame in frames[:count]:
                writer.write(frame)
        return tmp_path / name

    hits = SPEECH_PACKETS.hits
    first = write("first.mp4", speech, 45)
    second = write("second.mp4", speech, 45)
    assert SPEECH_PACKETS.hits == hits + 1
    assert _audio_packets(second) == _audio_packets(first)
    assert np.array_equal(load_audio(second).samples, load_audio(first).samples)
    assert abs(load_audio(second).duration_s - 45 / info.fps) <= 1 / info.fps
    shorter = write("shorter.mp4", speech, 30)  # another length: encoded, not taken
    copy = AudioClip(speech.samples.copy(), speech.sample_rate)
    other = write("other.mp4", copy, 30)  # another clip of the same sound: encoded too
    assert SPEECH_PACKETS.hits == hits + 1
    assert abs(load_audio(shorter).duration_s - 30 / info.fps) <= 1 / info.fps
    assert _audio_packets(other) == _audio_packets(shorter)


@dataclasses.dataclass
class _Pair:
    big: np.ndarray
    small: np.ndarray


def test_cached_arrays_rebuild_an_incomplete_set(tmp_path):
    """The .npz is written last: a set whose memory-mapped part is missing is built again, not half read."""
    path = tmp_path / "pair.npz"
    built = []

    def build() -> _Pair:
        built.append(1)
        return _Pair(big=np.arange(12, dtype=np.uint8).reshape(3, 4), small=np.array([len(built)]))

    first = cached_arrays(path, _Pair, build, mapped=("big",))
    again = cached_arrays(path, _Pair, build, mapped=("big",))
    assert len(built) == 1 and isinstance(again.big, np.memmap) and again.small[0] == 1
    np.testing.assert_array_equal(again.big, first.big)
    (tmp_path / "pair.big.npy").unlink()
    assert cached_arrays(path, _Pair, build, mapped=("big",)).small[0] == 2 and len(built) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair.big.npy", "pair.npz"]
