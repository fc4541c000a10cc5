"""Decode, render and encode run in their own threads: a failure in any of them ends generate at once,
with the stage's own error, no output and no thread left running."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facecast.engine.encode import VideoWriter
from facecast.engine.media import load_audio
from facecast.engine.pipeline import generate, prepare_template
from facecast.engine.render import mouthbank, parametric
from facecast.engine.results import PreparedTemplate
from facecast.engine.speech_types import AudioClip
from facecast.engine.stages import QUEUE_FRAMES, frames_for_the_encoder, in_thread, one_opencv_thread


class StageFailure(RuntimeError):
    pass


@pytest.fixture(scope="module")
def prepared(talking_man_mp4: Path, tmp_path_factory: pytest.TempPathFactory) -> PreparedTemplate:
    return prepare_template(talking_man_mp4, cache_dir=tmp_path_factory.mktemp("templates"))


@pytest.fixture(scope="module")
def speech(eng_wav: Path) -> AudioClip:
    clip = load_audio(eng_wav)
    return AudioClip(samples=clip.samples[: 4 * clip.sample_rate], sample_rate=clip.sample_rate)


def stage_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("facecast-")]


def fail_on_frame(frame_index: int):
    """A drop-in for a stage function that raises on the given call, else does nothing to the frame."""
    calls = iter(range(1_000_000))

    def stage(frame: np.ndarray, *args: object) -> np.ndarray:
        if next(calls) == frame_index:
            raise StageFailure("stage failed")
        return frame

    return stage


def failing_decoder(*args: object, **kwargs: object) -> Iterator[tuple[int, np.ndarray]]:
    yield 0, np.zeros((8, 8, 3), np.uint8)
    raise StageFailure("decoder failed")


@pytest.mark.timeout(60)  # a stage that failed silently would leave generate waiting for its next frame
@pytest.mark.parametrize("stage", ["decode", "render", "hook", "encode"])
def test_a_failing_stage_stops_generate_with_its_error(stage: str, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path, prepared: PreparedTemplate,
                                                        speech: AudioClip) -> None:
    hook = None
    if stage == "decode":
        monkeypatch.setattr("facecast.engine.pipeline.iter_pingpong_frames", failing_decoder)  # stands in for PyAV
    elif stage == "render":
        fail = fail_on_frame(3)
        for renderer in (mouthbank.MouthBankRenderer, parametric.ParametricRenderer):
            monkeypatch.setattr(renderer, "render", lambda self, frame, *args: fail(frame))
    elif stage == "hook":
        hook = fail_on_frame(7)
    else:
        original = VideoWriter.write
        fail = fail_on_frame(10)
        monkeypatch.setattr(VideoWriter, "write", lambda self, frame: original(self, fail(frame)))
    (tmp_path / "out").mkdir()
    with pytest.raises(StageFailure):
        generate(prepared, speech, tmp_path / "out" / "result.mp4", frame_hook=hook)
    assert stage_threads() == []
    assert list((tmp_path / "out").iterdir()) == []  # neither the output nor its temp file


def test_closing_the_stream_stops_its_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            count = 0
            while True:
                yield count
                count += 1
        finally:
            closed.set()

    stream = in_thread(endless(), "test")
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert closed.is_set() and stage_threads() == []


def test_a_stage_runs_at_most_a_queue_ahead() -> None:
    produced: list[int] = []

    def counting() -> Iterator[int]:
        for index in range(100):
            produced.append(index)
            yield index

    stream = in_thread(counting(), "test")
    next(stream)
    time.sleep(0.3)
    assert len(produced) <= QUEUE_FRAMES + 2  # the queue, the item being put, the one handed over
    assert list(stream) == list(range(1, 100))
    assert stage_threads() == []


@pytest.mark.parametrize(("size", "frames"), [((720, 1280), 24), ((1080, 1920), 10), ((480, 854), 48),
                                              ((3840, 2160), QUEUE_FRAMES)])
def test_the_encoder_queue_holds_about_64_mib_of_frames(size: tuple[int, int], frames: int) -> None:
    assert frames_for_the_encoder(*size) == frames


def test_opencv_runs_on_one_thread_while_streams_run_and_gets_its_setting_back(
        prepared: PreparedTemplate, tmp_path: Path) -> None:
    import cv2

    cv2.setNumThreads(3)
    seen: list[int] = []

    def hook(frame: np.ndarray, _time_s: float) -> np.ndarray:
        seen.append(cv2.getNumThreads())
        return frame

    clip = AudioClip(np.zeros(16000, np.float32), 16000)
    try:
        with one_opencv_thread():  # a second stream (another video of a batch) still running after this one
            generate(prepared, clip, tmp_path / "out.mp4", frame_hook=hook)
            assert cv2.getNumThreads() == 1
        assert seen and set(seen) == {1}
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(-1)
