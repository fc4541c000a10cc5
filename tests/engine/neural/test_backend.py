"""The wav2lip backend end to end through the real CLI on the CPU, and the classical path free of torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facecast.engine.media import probe
from tests.support.cli import run_facecast
from tests.support.media import media_path, read_rgb_frames, trim_wav

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trim_wav(media_path("eng.wav"), tmp_path_factory.mktemp("audio") / "short.wav", 1.2)


def _generate(template: Path, audio: Path, output: Path, cache_dir: Path, *extra: str) -> None:
    done = run_facecast("generate", "-t", str(template), "-a", str(audio), "-o", str(output), "--cache-dir",
                        str(cache_dir), "--max-height", "240", "-q", *extra)
    assert done.returncode == 0, done.stderr


def test_generate_with_a_pth_on_the_cpu(tmp_path: Path, cache_dir: Path, short_speech: Path,
                                        pth_weights: Path) -> None:
    template = media_path("talking_man_480.mp4")
    classical, neural = tmp_path / "classical.mp4", tmp_path / "neural.mp4"
    _generate(template, short_speech, classical, cache_dir, "--mode", "parametric")
    _generate(template, short_speech, neural, cache_dir, "--backend", "wav2lip", "--weights", str(pth_weights),
              "--batch-size", "8")
    info = probe(neural)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (240, 240, "h264", "aac")
    assert abs(info.duration_s - 1.2) <= 1 / 30 + 0.03
    frames, plain = np.stack(read_rgb_frames(neural)), np.stack(read_rgb_frames(classical))
    assert frames.shape == plain.shape
    difference = np.abs(frames.astype(np.int16) - plain.astype(np.int16)).mean(axis=(0, 3))  # per pixel
    # Random weights draw nonsense, but only over the lower face: the top of the picture stays the template's.
    assert difference[:60].mean() < 2.0
    assert difference[130:200, 80:160].mean() > 4 * max(difference[:60].mean(), 0.5)


def test_missing_weights_and_wrong_architecture_exit_with_their_codes(tmp_path: Path, cache_dir: Path,
                                                                      short_speech: Path) -> None:
    template = media_path("talking_man_480.mp4")
    (tmp_path / "other.pth").write_bytes(b"")
    for weights, code in ((None, "backend_unavailable"), (tmp_path / "other.pth", "invalid_weights")):
        flags = ["--weights", str(weights)] if weights else []
        done = run_facecast("generate", "-t", str(template), "-a", str(short_speech), "-o", str(tmp_path / "x.mp4"),
                            "--cache-dir", str(cache_dir), "--backend", "wav2lip", *flags)
        assert done.returncode != 0 and code in done.stderr, done.stderr
        assert not (tmp_path / "x.mp4").exists()


def test_classical_generate_never_imports_torch(tmp_path: Path, cache_dir: Path, short_speech: Path) -> None:
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from facecast.engine import generate\n"
        "from facecast.engine.options import EncodeOptions, GenerateOptions\n"
        f"generate(Path({str(media_path('talking_man_480.mp4'))!r}), Path({str(short_speech)!r}), "
        f"Path({str(tmp_path / 'out.mp4')!r}), GenerateOptions(encode=EncodeOptions(max_height=240)), "
        f"cache_dir=Path({str(cache_dir)!r}))\n"
        "print(json.dumps([name for name in ('torch', 'onnxruntime') if name in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "out.mp4").is_file()
