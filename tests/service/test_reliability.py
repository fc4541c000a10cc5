"""Faults leave no debris and jobs are never lost or doubled: outputs of failed jobs, scratch files, queue tasks,
a queue that does not answer, a full disk, signals to serve and kill -9 drills against real processes."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tests.support.media import KILLABLE_S, trim_wav
from tests.support.server import free_port
from test_end_to_end import upload_audio, upload_template

FAST = {"render_mode": "parametric", "max_height": 240}


def _until(check, timeout_s: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout_s} s")


def _tasks(service, queue: str = "facecast") -> int:
    with sqlite3.connect(service.data_dir / "queue.db") as db:
        return db.execute("SELECT count(*) FROM task WHERE queue = ?", (queue,)).fetchone()[0]


def _ready(service, media: Path) -> str:
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    assert service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"})["status"] == "ready"
    return template_id


def _outputs(service) -> list[str]:
    return sorted(p.name for p in (service.data_dir / "outputs").iterdir() if not p.name.startswith("."))


def _work_left(service) -> list[str]:
    work = service.data_dir / "work"
    return sorted(p.name for p in work.iterdir()) if work.is_dir() else []


def test_queue_down_still_answers_202_and_the_replay_gets_the_job(make_service, media: Path,
                                                                   short_wav: Path) -> None:
    service = make_service(workers=0, FACECAST_QUEUE_URL=f"redis://127.0.0.1:{free_port()}/0").start()
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    audio_id = upload_audio(service, short_wav)
    body = {"template_id": template_id, "audio_id": audio_id, **FAST}
    first = service.client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 202, first.text
    again = service.client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k1"})
    assert again.status_code in (200, 202) and again.json()["id"] == first.json()["id"], again.text
    assert "not enqueued" in (service.data_dir / "logs" / "facecast.log").read_text()


def test_replayed_key_re_enqueues_a_job_whose_task_is_gone(make_service, media: Path, short_wav: Path) -> None:
    service = make_service(workers=0).start()
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    body = {"template_id": template_id, "audio_id": upload_audio(service, short_wav), **FAST}
    video_id = service.client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k"}).json()["id"]
    with sqlite3.connect(service.data_dir / "queue.db") as db:
        db.execute("DELETE FROM task")
    service.client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k"})
    assert _tasks(service) == 1
    service.client.post("/v1/videos", json=body, headers={"Idempotency-Key": "k"})
    assert _tasks(service) == 1  # a task waiting its turn is not doubled
    service.start_worker()
    assert service.wait_for(f"/v1/videos/{video_id}", {"succeeded", "failed"}, 180)["status"] == "succeeded"


def test_failed_job_leaves_no_output_and_delete_removes_all(make_service, media: Path, tmp_path: Path) -> None:
    """A worker killed after storing on its last attempt: the sweep fails the job and removes its files."""
    service = make_service(workers=0, FACECAST_WORKER__MAX_ATTEMPTS="1").start()
    worker = service.start_worker()
    template_id = _ready(service, media)
    audio_id = upload_audio(service, trim_wav(media / "eng.wav", tmp_path / "long.wav", KILLABLE_S))
    video_id = service.client.post("/v1/videos", json={"template_id": template_id, "audio_id": audio_id,
                                                       "render_mode": "parametric"}).json()["id"]
    _until(lambda: service.client.get(f"/v1/videos/{video_id}").json()["progress"] > 0, 120, "rendering")
    for suffix in ("mp4", "jpg"):  # what storage.put had written when the kill came
        (service.data_dir / "outputs" / f"{video_id}.{suffix}").write_bytes(b"complete")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    service.start_worker()
    video = service.wait_for(f"/v1/videos/{video_id}", {"succeeded", "failed"}, 60)
    assert video["status"] == "failed" and video["error_code"] == "worker_lost", video
    assert not [name for name in _outputs(service) if video_id in name]
    _until(lambda: not _work_left(service), 20, f"work/ empty (left {_work_left(service)})")
    assert service.client.delete(f"/v1/videos/{video_id}").status_code == 204


def test_sweep_leaves_a_job_waiting_on_its_host_queue_alone(make_service, media: Path, tmp_path: Path) -> None:
    service = make_service(workers=1).start()
    template_id = _ready(service, media)  # prepared here: videos go to this host's queue
    long_audio = upload_audio(service, trim_wav(media / "eng.wav", tmp_path / "long.wav", 8.0))
    short_audio = upload_audio(service, trim_wav(media / "eng.wav", tmp_path / "short.wav", 2.5))
    ids = [service.client.post("/v1/videos", json={"template_id": template_id, "audio_id": audio, **FAST}).json()["id"]
           for audio in (long_audio, short_audio)]
    for video_id in ids:
        video = service.wait_for(f"/v1/videos/{video_id}", {"succeeded", "failed"}, 180)
        assert video["status"] == "succeeded" and video["attempts"] == 1, video
    log = (service.data_dir / "logs" / "facecast.log").read_text()
    assert "queue=facecast.host." in log
    assert f"job={ids[1]} status=queued reason=recovered" not in log
    assert log.count(f"job={ids[1]} status=processing") == 1


def test_serve_drains_and_exits_0_on_sigterm_and_readyz_counts_live_workers(make_service) -> None:
    service = make_service(workers=0).start()
    extra = service.start_worker()
    ready = lambda: service.client.get("/readyz").json()["checks"]["workers"]  # noqa: E731
    _until(lambda: ready() == "1", 30, "one live worker")
    os.kill(extra.pid, signal.SIGKILL)
    extra.wait(timeout=10)
    _until(lambda: ready() == "0", 3 + 3, "the killed worker gone from /readyz within a lease")
    assert service.api is not None
    service.api.send_signal(signal.SIGTERM)
    assert service.api.wait(timeout=60) == 0


def test_workers_end_with_serve_even_when_restarted_by_the_supervisor(make_service) -> None:
    service = make_service(workers=1).start()
    first = _until(service.worker_pids, 30, "a worker")[0]
    os.kill(first, signal.SIGKILL)
    second = _until(lambda: [p for p in service.worker_pids() if p != first], 30, "a respawned worker")[0]
    assert service.api is not None
    os.kill(service.api.pid, signal.SIGKILL)  # serve only: the worker must notice on its own
    service.api.wait(timeout=10)
    _until(lambda: not Path(f"/proc/{second}").exists() or "Z" in _state(second), 30, "the worker to exit")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return "Z"


def mount_small_tmpfs(folder: Path, size: str = "1m") -> None:
    """Put `folder` on a tiny tmpfs so writes there hit ENOSPC (the test suite runs as root, as make test does)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    assert done.returncode == 0, f"mounting a tmpfs needs root: {done.stderr}"


@pytest.fixture
def full_work_dir(tmp_path: Path):
    """data/work on a 1 MB tmpfs, so uploads hit ENOSPC."""
    work = tmp_path / "data" / "work"
    mount_small_tmpfs(work)
    yield work
    subprocess.run(["umount", "-l", str(work)], check=False)


def test_a_render_that_fills_the_disk_is_retried_once_space_returns(make_service, media: Path,
                                                                     short_wav: Path) -> None:
    """ENOSPC while rendering is a passing failure (disk_full): the job waits and succeeds when space is back."""
    service = make_service(workers=1).start()
    template_id = _ready(service, media)
    audio_id = upload_audio(service, short_wav)
    work = service.data_dir / "work"
    mount_small_tmpfs(work, "8k")
    try:
        created = service.client.post("/v1/videos", json={"template_id": template_id, "audio_id": audio_id,
                                                            "render_mode": "parametric", "max_height": 240})
        assert created.status_code == 202, created.text
        video_id = created.json()["id"]
        retrying = _until(lambda: (body := service.client.get(f"/v1/videos/{video_id}").json())["error_code"]
                          and body, 60, "the render to hit the full disk")
        assert retrying["error_code"] == "disk_full" and retrying["status"] in ("queued", "processing"), retrying
    finally:
        subprocess.run(["umount", "-l", str(work)], check=False)
    done = service.wait_for(f"/v1/videos/{video_id}", {"succeeded", "failed", "canceled"})
    assert done["status"] == "succeeded" and done["attempts"] >= 2, done
    assert _work_left(service) == []


def test_disk_full_upload_answers_507_in_one_log_line(make_service, media: Path, full_work_dir: Path) -> None:
    service = make_service(workers=1).start()
    with (media / "talking_woman_480.mp4").open("rb") as handle:
        response = service.client.post("/v1/templates", files={"file": ("big.mp4", handle)}, data={"name": "x"})
    assert response.status_code == 507 and response.json()["code"] == "insufficient_storage", response.text
    _until(lambda: not list(full_work_dir.iterdir()), 20, "the cut-off upload removed")
    assert "Traceback" not in (service.data_dir / "serve.out").read_text()


def test_failing_finish_leaves_the_job_to_the_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refusing the end of a job: one log line, no scratch left, and the sweep retries it."""
    from facecast.service.db.models import Job, utcnow
    from facecast.service.db.session import Database
    from facecast.service.jobs import JobService
    from facecast.service.library import Library
    from facecast.service.queue import Queues
    from facecast.service.settings import Settings
    from facecast.service.storage import LocalStorage
    from facecast.service.tasks import JobRunner

    monkeypatch.setenv("FACECAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FACECAST_WORKER__LEASE_S", "0.3")
    settings = Settings()
    db = Database(settings.effective_database_url)
    db.migrate()
    jobs = JobService(settings, db, Queues(settings), LocalStorage(tmp_path))
    with db.session() as session:
        session.add(Job(id="vid_finish", kind="video", owner="o", status="queued", options={}, max_attempts=2,
                        created_at=utcnow(), enqueued_at=utcnow(), queue="facecast"))
    runner = JobRunner(jobs, Library(jobs), jobs.storage, "w1")
    job = jobs.claim("vid_finish", "w1")
    assert job is not None

    def attempt(job, lease):
        (runner.work_dir / job.id).mkdir(parents=True, exist_ok=True)
        return "succeeded", {"video_key": "outputs/vid_finish.mp4"}, None, None

    def full(*args, **kwargs):
        raise OperationalError("UPDATE jobs", {}, Exception("database or disk is full"))

    monkeypatch.setattr(runner, "_attempt", attempt)
    monkeypatch.setattr(jobs, "finish", full)
    runner._run(job)  # must not raise
    assert not (runner.work_dir / job.id).exists()
    assert jobs.load(job.id).status == "processing"
    time.sleep(0.4)
    assert jobs.sweep() == 1
    assert jobs.load(job.id).status == "queued"
    db.dispose()


def test_kill_drill_every_job_ends_once_and_leaves_nothing(make_service, media: Path, short_wav: Path) -> None:
    """Three rounds of kill -9 to a random worker at a random moment while short jobs run."""
    service = make_service(workers=2).start()
    template_id = _ready(service, media)
    audio_id = upload_audio(service, short_wav)
    rng = random.Random(7)
    ids: list[str] = []
    for _ in range(3):
        ids += [service.client.post("/v1/videos", json={"template_id": template_id, "audio_id": audio_id,
                                                        **FAST}).json()["id"] for _ in range(2)]
        time.sleep(rng.uniform(0.5, 3.0))
        pids = service.worker_pids()
        if pids:
            try:
                os.kill(rng.choice(pids), signal.SIGKILL)
            except ProcessLookupError:
                pass
    ended = {video_id: service.wait_for(f"/v1/videos/{video_id}", {"succeeded", "failed", "canceled"}, 120)
             for video_id in ids}
    expected = sorted(f"{video_id}.{suffix}" for video_id, video in ended.items() if video["status"] == "succeeded"
                      for suffix in ("jpg", "mp4"))
    assert sum(v["status"] == "succeeded" for v in ended.values()) >= len(ids) - 1, ended
    log = (service.data_dir / "logs" / "facecast.log").read_text()
    assert all(log.count(f"job={video_id} status=succeeded") <= 1 for video_id in ids)
    assert _outputs(service) == expected
    _until(lambda: not _work_left(service), 20, f"work/ empty (left {_work_left(service)})")
