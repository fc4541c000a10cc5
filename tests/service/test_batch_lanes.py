"""How a worker works through a batch: each lane claims the next queued video as soon as it is free, a video whose
template is still being prepared is left to wait, a stopping worker claims nothing more, and the extra lanes are
processes that stop with their worker."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from facecast.service import lanes as lanes_module
from facecast.service.lanes import ProcessLanes
from facecast.service.settings import Settings
from facecast.service.tasks import JobRunner


class _Jobs:
    """The few JobService calls a batch lane makes, over an in-memory batch."""

    def __init__(self, settings: Settings, queued: list[str], preparing: set[str]) -> None:
        self.settings, self.queued, self.preparing = settings, queued, preparing
        self.claimed: list[str] = []
        self.lock = threading.Lock()

    def queued_in_batch(self, batch_id: str, limit: int) -> list[str]:
        with self.lock:
            return [job_id for job_id in self.queued if job_id not in self.claimed][:limit]

    def park_while_template_prepares(self, job_id: str) -> bool:
        return job_id in self.preparing

    def claim(self, job_id: str, worker_id: str) -> SimpleNamespace | None:
        with self.lock:
            if job_id in self.claimed:
                return None
            self.claimed.append(job_id)
        return SimpleNamespace(id=job_id, kind="video", batch_id="b1")


def _runner(tmp_path: Path, queued: list[str], preparing: set[str] = frozenset()) -> tuple[JobRunner, list[str]]:
    jobs = _Jobs(Settings(data_dir=tmp_path), queued, set(preparing))
    runner = JobRunner(jobs, None, None, "w1")  # type: ignore[arg-type]
    ran: list[str] = []
    runner._run = lambda job: ran.append(job.id)  # type: ignore[method-assign]
    return runner, ran


def test_two_lanes_run_every_queued_video_once(tmp_path: Path) -> None:
    runner, ran = _runner(tmp_path, [f"v{n}" for n in range(7)])
    lanes = [threading.Thread(target=runner._run_siblings, args=(SimpleNamespace(batch_id="b1", kind="video"),))
             for _ in range(2)]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join(timeout=10)
    assert sorted(ran) == [f"v{n}" for n in range(7)]


def test_a_video_whose_template_is_preparing_is_left_waiting(tmp_path: Path) -> None:
    runner, ran = _runner(tmp_path, ["v1", "v2", "v3"], preparing={"v2"})
    runner._run_siblings(SimpleNamespace(batch_id="b1", kind="video"))
    assert ran == ["v1", "v3"]


def test_a_stopping_worker_claims_no_more_videos(tmp_path: Path) -> None:
    runner, ran = _runner(tmp_path, ["v1", "v2"])
    runner.stop.set()
    runner._run_siblings(SimpleNamespace(batch_id="b1", kind="video"))
    assert ran == []


def _lane_that_waits(folder: str, stop: Any, batches: Any) -> None:
    """A lane process target: for each batch, say it started, and wait for the stop while the batch is "vid_1",
    saying when it saw it; say when it ends."""
    try:
        for job_id in batches:
            Path(folder, f"{job_id}.{os.getpid()}.started").touch()
            if job_id == "vid_1" and stop.wait(60):
                Path(folder, f"{job_id}.stopped").touch()
    finally:
        Path(folder, f"ended.{os.getpid()}").touch()


def test_lane_processes_run_beside_the_worker_and_stop_with_it(tmp_path: Path) -> None:
    stop = threading.Event()

    def own_lane() -> None:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("*.started"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()  # the worker is told to stop while its lanes are working

    lanes = ProcessLanes(_lane_that_waits, (str(tmp_path),))
    lanes.run("vid_1", 2, own_lane, lambda: None, stop)
    started = sorted(path.name for path in tmp_path.glob("*.started"))
    assert len(started) == 2 and all(name.startswith("vid_1.") for name in started)
    pids = {name.split(".")[1] for name in started}
    assert len(pids) == 2 and str(os.getpid()) not in pids  # two processes of their own
    assert (tmp_path / "vid_1.stopped").exists()
    lanes.close()
    assert {path.name.split(".")[1] for path in tmp_path.glob("ended.*")} == pids


def test_lane_processes_stay_for_the_next_batch_and_end_with_close(tmp_path: Path) -> None:
    lanes = ProcessLanes(_lane_that_waits, (str(tmp_path),))
    for batch in ("vid_a", "vid_b"):
        lanes.run(batch, 1, lambda: None, lambda: None, threading.Event())
        assert len(list(tmp_path.glob(f"{batch}.*.started"))) == 1  # run() returns once the lane is done with it
    pids = {path.name.split(".")[1] for path in tmp_path.glob("*.started")}
    assert len(pids) == 1 and not list(tmp_path.glob("ended.*"))  # the same process did both, and is still up
    lanes.close()
    assert [path.name for path in tmp_path.glob("ended.*")] == [f"ended.{pids.pop()}"]


def test_a_lane_that_died_is_started_afresh_at_the_next_batch(tmp_path: Path) -> None:
    lanes = ProcessLanes(_lane_that_waits, (str(tmp_path),))
    lanes.run("vid_a", 1, lambda: None, lambda: None, threading.Event())
    first = next(tmp_path.glob("vid_a.*.started")).name.split(".")[1]
    os.kill(int(first), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{first}").exists() and time.monotonic() < deadline:  # gone (reaped by the fork server)
        time.sleep(0.05)
    lanes.run("vid_b", 1, lambda: None, lambda: None, threading.Event())
    second = next(tmp_path.glob("vid_b.*.started")).name.split(".")[1]
    assert second != first
    lanes.close()


def test_a_lane_that_cannot_start_as_a_process_runs_on_a_thread(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object) -> None:
        raise OSError("no fork server")

    monkeypatch.setattr(lanes_module._context().Process, "start", refuse)
    ran: list[str] = []
    ProcessLanes(_lane_that_waits, (str(tmp_path),)).run(
        "vid_1", 1, lambda: ran.append("own"), lambda: ran.append("sibling"), threading.Event())
    assert sorted(ran) == ["own", "sibling"] and not list(tmp_path.glob("*.started"))
