"""How a worker works through a batch: each lane claims the next queued video as soon as it is free, a video whose
template is still being prepared is left to wait, and a stopping worker claims nothing more."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

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
