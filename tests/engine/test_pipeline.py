"""End to end through the real CLI: real faces, real speech, real files, measured lip-sync."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from facecast.engine.media import load_audio, probe
from facecast.engine.options import EncodeOptions, GenerateOptions
from facecast.engine.pipeline import generate
from facecast.engine.speech_types import AudioClip
from tests.support.cli import run_facecast
from tests.support.media import MEDIA_DIR as MEDIA


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def speech_8s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = load_audio(MEDIA / "eng.wav")
    return write_wav(tmp_path_factory.mktemp("audio") / "eng8.wav", clip.samples[: clip.sample_rate * 8], clip.sample_rate)


def test_generate_sun_follows_english_speech(tmp_path: Path, cache_dir: Path, speech_8s: Path) -> None:
    output = tmp_path / "out.mp4"
    done = run_facecast("generate", "-t", str(MEDIA / "sun.mp4"), "-a", str(speech_8s), "-o", str(output),
                    "--cache-dir", str(cache_dir), "-q")
    assert done.returncode == 0, done.stderr
    info = probe(output)
    assert (info.width, info.height, info.fps) == (576, 768, 25.0)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert abs(info.duration_s - 8.0) <= 1 / 25 + 0.03

    done = run_facecast("eval", str(output), "--audio", str(speech_8s), "--template", str(MEDIA / "sun.mp4"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["sync_r"] >= 0.7
    assert 0 <= report["sync_lag_ms"] <= 40
    assert report["travel"] >= 0.06
    assert report["psnr_outside_db"] >= report["plain_psnr_outside_db"] - 0.5


def test_silent_audio_gives_closed_mouth(tmp_path: Path, cache_dir: Path) -> None:
    silence = write_wav(tmp_path / "silence.wav", np.zeros(16000 * 2, np.float32), 16000)
    output = tmp_path / "silent.mp4"
    done = run_facecast("generate", "-t", str(MEDIA / "sun.mp4"), "-a", str(silence), "-o", str(output),
                    "--cache-dir", str(cache_dir), "-q")
    assert done.returncode == 0, done.stderr
    from facecast.engine.evaluate import measure_openings

    _, openings, _ = measure_openings(output)
    assert np.nanmax(openings) < 0.03  # lips together the whole time (the template itself shows teeth at 0.05)


def test_soft_subtitles_and_frame_hook(tmp_path: Path, cache_dir: Path, speech_8s: Path) -> None:
    import av

    from facecast.engine import SubtitleCue, generate

    seen: list[float] = []

    def mark(frame: np.ndarray, time_s: float) -> np.ndarray:
        seen.append(time_s)
        frame = frame.copy()
        frame[:8, :8] = (255, 0, 0)  # a red corner: proves the hook's frame is what gets encoded
        return frame

    cues = [SubtitleCue(0.0, 1.5, "Hello there"), SubtitleCue(1.6, 3.0, "你好，世界")]
    result = generate(MEDIA / "sun.mp4", speech_8s, tmp_path / "subs.mp4", cache_dir=cache_dir,
                      subtitles=cues, frame_hook=mark)
    assert len(seen) == result.frame_count and seen[1] == pytest.approx(1 / 25)
    with av.open(str(result.output)) as container:
        texts = [bytes(p)[2:].decode() for p in container.demux(container.streams.subtitles[0]) if p.size > 2]
    assert texts == ["Hello there", "你好，世界"]
    with av.open(str(result.output)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert first[2:6, 2:6, 0].mean() > 200 and first[2:6, 2:6, 1].mean() < 60


def test_prepared_template_is_probed_once_and_not_hashed(tmp_path: Path, cache_dir: Path, speech_8s: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from facecast.engine import pipeline, template_cache

    prepared = pipeline.prepare_template(MEDIA / "sun.mp4", cache_dir=cache_dir)
    assert template_cache.TemplateCache(cache_dir).load(prepared.source, prepared.content_hash) == prepared
    calls: list[str] = []
    real_probe = pipeline.probe
    monkeypatch.setattr(pipeline, "content_hash", lambda path: calls.append("hash") or "")
    monkeypatch.setattr(pipeline, "probe", lambda path, limits: calls.append("probe") or real_probe(path, limits))
    result = pipeline.generate(prepared, load_audio(speech_8s), tmp_path / "prepared.mp4")
    assert calls == ["probe"] and result.frame_count == 200

    calls.clear()
    monkeypatch.setattr(pipeline, "content_hash", template_cache.content_hash)
    pipeline.generate(MEDIA / "sun.mp4", speech_8s, tmp_path / "path.mp4", cache_dir=cache_dir)
    assert calls == ["probe"]  # given a path: hashed to find its cache, probed once for both uses


def test_a_smaller_output_is_drawn_at_its_own_size_on_the_threads_asked(tmp_path: Path, sun_mp4: Path,
                                                                         eng_wav: Path) -> None:
    """max_height scales the template before the mouth is drawn (the frame hook sees output-sized frames, so
    burned-in subtitles are sized for the output), and codec_threads reaches x264."""
    seen: list[tuple[int, ...]] = []

    def hook(frame: np.ndarray, time_s: float) -> np.ndarray:
        seen.append(frame.shape)
        return frame

    speech = AudioClip(load_audio(eng_wav).samples[3 * 16000: 5 * 16000], 16000)
    options = GenerateOptions(encode=EncodeOptions(max_height=384, codec_threads=1))
    result = generate(sun_mp4, speech, tmp_path / "small.mp4", options, cache_dir=tmp_path / "cache",
                      frame_hook=hook)
    assert (result.width, result.height) == (288, 384) and set(seen) == {(384, 288, 3)}
    assert b"threads=1 " in (tmp_path / "small.mp4").read_bytes()
