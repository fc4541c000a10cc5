"""Progress reports and cancellation through the Python API, the way the service's worker drives a job."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import pytest

from facecast.engine.errors import CanceledError
from facecast.engine.media import load_audio
from facecast.engine.pipeline import generate
from facecast.engine.progress import CancelToken
from facecast.engine.speech_types import AudioClip
from tests.conftest import write_video


@pytest.fixture(scope="module")
def sun_2s(tmp_path_factory: pytest.TempPathFactory, sun_mp4: Path) -> Path:
    """50 frames (2 s at 25 fps) of sun.mp4, so tracking reports progress several times."""
    with av.open(str(sun_mp4)) as container:
        frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(50), container.decode(video=0))]
    return write_video(tmp_path_factory.mktemp("template") / "sun_2s.mp4", frames, fps=25)


@pytest.fixture(scope="module")
def speech(eng_wav: Path) -> AudioClip:
    clip = load_audio(eng_wav)
    return AudioClip(samples=clip.samples[: 20 * clip.sample_rate], sample_rate=clip.sample_rate)


def check_reports(reports: list[tuple[str, int, int]], stage: str) -> list[int]:
    """The `done` values of one stage: increasing, never past a total that stays the same."""
    dones = [done for name, done, _ in reports if name == stage]
    totals = {total for name, _, total in reports if name == stage}
    assert dones, f"no {stage} progress in {reports}"
    assert len(totals) == 1, f"{stage} total changed: {totals}"
    assert all(a < b for a, b in zip(dones, dones[1:])), f"{stage} done not increasing: {dones}"
    assert 0 < dones[0] and dones[-1] <= totals.pop()
    return dones


def test_cancel_during_rendering_stops_within_a_second(tmp_path: Path, sun_2s: Path, speech: AudioClip) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    token = CancelToken()
    reports: list[tuple[str, int, int]] = []
    moments: dict[str, float] = {}
    outcome: dict[str, BaseException] = {}

    def progress(stage: str, done: int, total: int) -> None:
        reports.append((stage, done, total))
        if stage == "rendering" and "cancel" not in moments:
            moments["cancel"] = time.monotonic()
            token.cancel()

    def job() -> None:
        try:
            generate(sun_2s, speech, out_dir / "result.mp4", cache_dir=tmp_path / "cache", progress=progress,
                     cancel=token)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = error
        finally:
            moments["end"] = time.monotonic()

    worker = threading.Thread(target=job)
    worker.start()
    worker.join(timeout=240)
    assert not worker.is_alive(), "generate did not stop"

    assert isinstance(outcome.get("error"), CanceledError), outcome
    assert "cancel" in moments, f"never reached rendering: {reports}"
    assert moments["end"] - moments["cancel"] < 1.0
    tracking = check_reports(reports, "tracking")
    assert tracking[-1] == 50  # the template was tracked to the end before rendering started
    assert [r for r in reports if r[0] == "rendering"] == [("rendering", 1, 500)]  # 20 s at 25 fps, then stop
    assert sorted(p.name for p in out_dir.iterdir()) == []  # neither the output nor its temp file


def test_progress_reaches_the_total(tmp_path: Path, sun_2s: Path, speech: AudioClip) -> None:
    short = AudioClip(samples=speech.samples[: 2 * speech.sample_rate], sample_rate=speech.sample_rate)
    reports: list[tuple[str, int, int]] = []
    result = generate(sun_2s, short, tmp_path / "result.mp4", cache_dir=tmp_path / "cache",
                      progress=lambda *report: reports.append(report))
    rendering = check_reports(reports, "rendering")
    assert rendering[-1] == result.frame_count == 50
    assert len(rendering) >= 5
