"""Bad inputs through the real `facecast generate`: exit 2, one stderr line with the stable code, no files left.

Every input is a real file made in tmp from the shared media (a truncated mp4, a 64x64 face, a gradient video
with no face, ...), so each case exercises the same path an upload would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from facecast.engine.media import load_audio
from tests.support.cli import run_facecast as facecast
from tests.support.media import write_audio, write_empty_wav, write_video


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, eng_wav: Path, talking_man_mp4: Path) -> Path:
    """One folder of good and bad inputs, shared by every case."""
    folder = tmp_path_factory.mktemp("inputs")
    clip = load_audio(eng_wav)
    rate = clip.sample_rate
    write_audio(folder / "speech2.wav", clip.samples[3 * rate: 5 * rate], rate)
    write_audio(folder / "speech4.wav", clip.samples[3 * rate: 7 * rate], rate)
    write_empty_wav(folder / "empty.wav")
    (folder / "notes.mp4").write_text("these are meeting notes, not a video\n" * 20)
    # moov is at the end of this file, so cutting it in half leaves no index at all
    data = talking_man_mp4.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    rows = np.linspace(0, 255, 96, dtype=np.float32)[:, None, None]
    cols = np.linspace(0, 255, 128, dtype=np.float32)[None, :, None]
    gradient = [np.broadcast_to(((rows + cols * 0.5 + 4 * i) % 256).astype(np.uint8), (96, 128, 3)).copy()
                for i in range(15)]
    write_video(folder / "gradient.mp4", gradient, fps=25)
    with av.open(str(talking_man_mp4)) as container:
        small = [cv2.resize(frame.to_ndarray(format="rgb24"), (64, 64), interpolation=cv2.INTER_AREA)
                 for _, frame in zip(range(15), container.decode(video=0))]
    write_video(folder / "tiny_face.mp4", small, fps=30)
    return folder


@dataclass(frozen=True)
class Case:
    template: str
    audio: str
    extra: tuple[str, ...]
    code: str
    names: str  # a word the message must contain: the file name, or the option


CASES = {
    "missing_template": Case("absent_template.mp4", "speech2.wav", (), "input_not_found", "absent_template.mp4"),
    "missing_audio": Case("@talking_man", "absent_speech.wav", (), "input_not_found", "absent_speech.wav"),
    "text_as_mp4": Case("notes.mp4", "speech2.wav", (), "unreadable_input", "notes.mp4"),
    "truncated_mp4": Case("truncated.mp4", "speech2.wav", (), "unreadable_input", "truncated.mp4"),
    "empty_wav": Case("@talking_man", "empty.wav", (), "empty_audio", "empty.wav"),
    "audio_too_long": Case("@talking_man", "speech4.wav", ("--max-audio-s", "3"), "audio_too_long", "speech4.wav"),
    "no_face": Case("gradient.mp4", "speech2.wav", (), "no_face", "gradient.mp4"),
    "face_too_small": Case("tiny_face.mp4", "speech2.wav", (), "face_too_small", "tiny_face.mp4"),
    "crf_out_of_range": Case("@talking_man", "speech2.wav", ("--crf", "99"), "invalid_option", "crf"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_fails_cleanly(case: Case, inputs: Path, talking_man_mp4: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    template = talking_man_mp4 if case.template == "@talking_man" else inputs / case.template
    done = facecast("generate", "-t", str(template), "-a", str(inputs / case.audio), "-o", str(out_dir / "result.mp4"),
                    "--cache-dir", str(tmp_path / "cache"), "-q", *case.extra)

    assert done.returncode == 2, f"exit {done.returncode}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"stderr should be one line, got {len(lines)}:\n{done.stderr}"
    assert re.fullmatch(rf"error: .+ \[{case.code}\]", lines[0]), lines[0]
    assert case.names in lines[0]
    assert sorted(p.name for p in out_dir.iterdir()) == []  # no output, no hidden temp file
