"""The lip-sync gate on real renders: the shared pairs pass, the same video with its sound 400 ms late is caught,
from the file and from the frames sampled while it renders."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from facecast.engine.encode import encode_frames
from facecast.engine import landmarks, pipeline, quality
from facecast.engine.errors import CanceledError, LowSyncQualityError
from facecast.engine.evaluate import sample_windows
from facecast.engine.media import iter_frames, load_audio, probe
from facecast.engine.landmarks import shared_landmarker
from facecast.engine.options import EncodeOptions, QualityOptions, TrackingOptions
from facecast.engine.motion import MouthPlan
from facecast.engine.pipeline import generate
from facecast.engine.progress import CancelToken
from facecast.engine.quality import (MIN_TRACKED, TRACKED_SHARE, RenderedSample, SoundMemo, gate_or_raise,
                                     gate_windows, measure_quality, tracked_count)
from facecast.engine.speech_types import AudioClip
from facecast.engine.tracking import track_frames
from tests.support.cli import run_facecast
from tests.support.media import trim_wav

SEGMENT_S = 8.0  # eng.wav: 3 s of silence, then speech


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quality")


@pytest.fixture(scope="module")
def sun_render(workdir: Path, sun_mp4: Path, eng_wav: Path) -> tuple[Path, dict]:
    """sun.mp4 lip-synced to eng.wav by `facecast generate --json`, and the JSON it printed."""
    speech = trim_wav(eng_wav, workdir / "eng.wav", SEGMENT_S)
    output = workdir / "sun.mp4"
    done = run_facecast("generate", "-t", str(sun_mp4), "-a", str(speech), "-o", str(output), "--json",
                        "--cache-dir", str(workdir / "cache"))
    assert done.returncode == 0, done.stderr
    assert not done.stderr.strip(), done.stderr  # no note from the native libraries the gate loads
    return output, json.loads(done.stdout)


def _sound_late(video: Path, target: Path, delay_ms: int) -> Path:
    """The same picture with its own sound track delayed by delay_ms (cut to the same length)."""
    clip = load_audio(video)
    shift = int(clip.sample_rate * delay_ms / 1000)
    late = AudioClip(np.r_[np.zeros(shift, np.float32), clip.samples[:-shift]], clip.sample_rate)
    info = probe(video)
    encode_frames(iter_frames(video, info), target, info.width, info.height, info.fps, late, EncodeOptions())
    return target


def test_generate_prints_the_figures_and_the_shared_pair_passes(sun_render: tuple[Path, dict]) -> None:
    _, result = sun_render
    quality = result["quality"]
    assert result["frame_count"] == 200 and result["renderer"] == "parametric"
    assert quality["passed"] and not quality["needs_review"]
    assert quality["sync_r"] > 0.8 and abs(quality["offset_ms"]) <= 60 and quality["face_coverage"] == 1.0
    assert quality["frames_measured"] == MIN_TRACKED and quality["cost_ratio"] > 0


def test_sound_400_ms_late_is_caught(sun_render: tuple[Path, dict], workdir: Path) -> None:
    late = _sound_late(sun_render[0], workdir / "late.mp4", 400)
    report = measure_quality(late)
    assert not report.passed and report.needs_review
    assert abs(report.offset_ms - 400) <= 60, report  # type: ignore[operator]
    with pytest.raises(LowSyncQualityError, match=r"audio offset (3[4-9]\d|4[0-5]\d) ms"):  # 400 +- 60
        gate_or_raise(late, QualityOptions(action="fail"))
    assert not late.exists()  # a failed video is not left behind


def test_review_keeps_the_video_flagged(sun_render: tuple[Path, dict], workdir: Path) -> None:
    late = _sound_late(sun_render[0], workdir / "late_review.mp4", 400)
    report = gate_or_raise(late, QualityOptions(action="review"))
    assert report.as_dict()["needs_review"] and late.exists()
    assert "NEEDS REVIEW" in report.summary()


def test_a_batch_analyses_a_shared_sound_once(sun_render: tuple[Path, dict], workdir: Path) -> None:
    memo = SoundMemo()
    first = memo.levels(sun_render[0])
    assert memo.levels(sun_render[0]) is first  # the same sound track: not decoded again
    late = memo.levels(_sound_late(sun_render[0], workdir / "late_memo.mp4", 400))
    assert late is not first and not np.array_equal(late[1], first[1])


def test_talking_woman_with_mandarin_speech_passes(talking_woman_mp4: Path, sun_wav: Path, workdir: Path) -> None:
    speech = trim_wav(sun_wav, workdir / "sun.wav", SEGMENT_S)
    output = workdir / "woman.mp4"
    result = generate(talking_woman_mp4, speech, output, cache_dir=workdir / "cache")
    report = gate_or_raise(output, QualityOptions(action="fail"), render_s=1.0)
    assert result.renderer == "mouthbank" and report.passed
    assert report.sync_r > QualityOptions().min_sync_r + 0.1  # type: ignore[operator]


@pytest.mark.parametrize("frame_count", [30, 75, 200, 1500, 90_000])
def test_windows_stay_inside_the_video_and_the_budget(frame_count: int) -> None:
    tracked = tracked_count(frame_count)
    for windows in (sample_windows(frame_count, 25.0, tracked), gate_windows(frame_count, 25.0)):
        indices = [index for window in windows for index in window]
        assert indices == sorted(set(indices)) and 0 <= indices[0] and indices[-1] < frame_count
        assert len(indices) <= tracked
        if frame_count >= MIN_TRACKED / TRACKED_SHARE:
            assert len(indices) <= TRACKED_SHARE * frame_count + len(windows)


def test_a_short_video_is_sampled_all_over() -> None:
    indices = [index for window in gate_windows(75, 25.0) for index in window]
    assert len(indices) == MIN_TRACKED and indices[-1] - indices[0] >= 0.75 * 75


@pytest.mark.parametrize("frame_count", [75, 200, 349, 500, 900])
def test_a_sample_too_small_for_two_windows_is_one_spread_run(frame_count: int) -> None:
    """Split in two, the 8 s shared pair's sample held 7 frames in speech and its offset came out -650 ms; in one
    window of every other frame, 20 s of talking_man with its sound 400 ms late measured -590 ms."""
    windows = gate_windows(frame_count, 25.0)
    assert len(windows) == 1 and len(windows[0]) == tracked_count(frame_count) and windows[0].step >= 5
    assert len(gate_windows(1000, 25.0)) == 2  # 40 s: windows of every other frame again


def test_the_sample_taken_while_rendering_agrees_with_the_file(sun_mp4: Path, eng_wav: Path, workdir: Path) -> None:
    speech = trim_wav(eng_wav, workdir / "eng_sampled.wav", SEGMENT_S)
    output, sample = workdir / "sampled.mp4", RenderedSample()
    generate(sun_mp4, speech, output, cache_dir=workdir / "cache", sample=sample)
    during, after = measure_quality(output, sample=sample), measure_quality(output)
    assert during.passed and after.passed and during.frames_measured == after.frames_measured == MIN_TRACKED
    # The file's frames went through x264: the offsets agree to within one frame (40 ms at sun.mp4's 25 fps).
    # Over 12 renders of 8 s they were 4 ms apart on average, 20-30 ms at most.
    assert abs(during.sync_r - after.sync_r) < 0.05 and abs(during.offset_ms - after.offset_ms) < 40  # type: ignore[operator]


def test_a_mouth_rendered_400_ms_late_is_caught_while_rendering(sun_mp4: Path, eng_wav: Path, workdir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A renderer that draws every mouth 400 ms after its sound: the sampled frames show it, the file goes."""
    planned = pipeline.plan_mouth

    def late_plan(*args: object) -> MouthPlan:
        plan = planned(*args)  # type: ignore[arg-type]
        shift = 10  # frames at sun.mp4's 25 fps
        return MouthPlan(*(np.r_[np.zeros(shift, np.float32), values[:-shift]]
                           for values in (plan.opening, plan.width, plan.press)))

    monkeypatch.setattr(pipeline, "plan_mouth", late_plan)
    speech = trim_wav(eng_wav, workdir / "eng_late_mouth.wav", SEGMENT_S)
    output, sample = workdir / "late_mouth.mp4", RenderedSample()
    generate(sun_mp4, speech, output, cache_dir=workdir / "cache", sample=sample)
    with pytest.raises(LowSyncQualityError, match="lip-sync below the gate"):
        gate_or_raise(output, QualityOptions(action="fail"), sample=sample)
    assert not output.exists()


def test_a_canceled_render_stops_its_sample(sun_mp4: Path, eng_wav: Path, workdir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    speech = trim_wav(eng_wav, workdir / "eng_cancel.wav", SEGMENT_S)
    cancel, sample = CancelToken(), RenderedSample()
    loaded = quality.shared_landmarker

    def still_loading() -> object:  # a process whose face models are still loading when the render stops
        time.sleep(1.0)
        return loaded()

    monkeypatch.setattr(quality, "shared_landmarker", still_loading)

    def cancel_midway(stage: str, done: int, total: int) -> None:
        if stage == "rendering" and done > total // 2:
            cancel.cancel()

    with pytest.raises(CanceledError):
        generate(sun_mp4, speech, workdir / "canceled.mp4", cache_dir=workdir / "cache", progress=cancel_midway,
                 cancel=cancel, sample=sample)
    # Already ended when generate raises: a process exiting on the error leaves no thread in mediapipe.
    assert not [thread for thread in threading.enumerate() if thread.name == "facecast-gate"]


def test_the_check_counts_the_cpu_time_of_mediapipes_own_threads(sun_mp4: Path) -> None:
    """The gate's cost is CPU time, most of it spent on mediapipe's graph threads rather than the caller's."""
    frames = [frame for _, frame in zip(range(MIN_TRACKED), iter_frames(sun_mp4, probe(sun_mp4)))]
    landmarker = shared_landmarker()
    counted: dict[str, float] = {}

    def track() -> None:
        before, own = landmarker.cpu_s(), time.thread_time()
        track_frames(iter(frames), len(frames), TrackingOptions(smoothing=0.0))
        counted["landmarker"] = landmarker.cpu_s() - before  # type: ignore[operator]
        counted["own thread"] = time.thread_time() - own

    process = time.process_time()
    thread = threading.Thread(target=track)
    thread.start()
    thread.join()
    process = time.process_time() - process
    assert counted["own thread"] < counted["landmarker"] <= process + 0.01, (counted, process)
    assert counted["landmarker"] > 0.5 * process, (counted, process)


def test_the_cpu_account_survives_a_thread_ending_while_it_lists_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoder threads come and go while the gate's landmarker loads: one gone between listing the process's
    threads and reading its name must not cost the account mediapipe's graph threads (the cost then fell back
    to wall time, most of it spent waiting for a core)."""
    shared_landmarker()  # its graph threads are running
    listed = os.listdir("/proc/self/task")
    monkeypatch.setattr(landmarks.os, "listdir", lambda path: ["999999999", *listed])
    clocks = landmarks._graph_thread_clocks()
    try:
        names = {os.readlink(f"/proc/self/fd/{clock}").split("/")[-2] for clock in clocks}
        assert names and all(Path(f"/proc/self/task/{tid}/comm").read_text().startswith("mediapipe")
                             for tid in names)
    finally:
        for clock in clocks:
            os.close(clock)
