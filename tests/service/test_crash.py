"""kill -9 of workers and of the API: jobs are retried and finish once, or fail with a reason; nothing is lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.support.media import KILLABLE_S, trim_wav
from test_end_to_end import upload_audio, upload_template


def _processing(service, video_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        video = service.client.get(f"/v1/videos/{video_id}").json()
        if video["status"] == "processing" and video["progress"] > 0:
            return video
        assert video["status"] in ("queued", "processing"), video
        time.sleep(0.1)
    raise AssertionError("job never started")


def _ready_template(service, media: Path) -> str:
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    assert service.wait_for(f"/v1/templates/{template_id}", {"ready", "failed"})["status"] == "ready"
    return template_id


def _kill_worker_mid_job(service, media: Path, tmp_path: Path) -> str:
    """Start a long video on a lone worker, kill -9 that worker while it renders, start a fresh worker."""
    worker = service.start_worker()
    template_id = _ready_template(service, media)
    audio_id = upload_audio(service, trim_wav(media / "eng.wav", tmp_path / "long.wav", KILLABLE_S))
    video_id = service.client.post("/v1/videos", json={"template_id": template_id, "audio_id": audio_id,
                                                       "render_mode": "parametric"}).json()["id"]
    _processing(service, video_id)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    service.start_worker()
    return video_id


def test_worker_killed_mid_job_is_retried_once(make_service, media: Path, tmp_path: Path) -> None:
    service = make_service(workers=0).start()
    video_id = _kill_worker_mid_job(service, media, tmp_path)
    video = service.wait_for(f"/v1/videos/{video_id}", {"succeeded", "failed"}, 300)
    assert video["status"] == "succeeded" and video["attempts"] == 2, video
    log = (service.data_dir / "logs" / "facecast.log").read_text()
    assert log.count(f"job={video_id} status=succeeded") == 1
    assert f"job={video_id} status=queued reason=recovered" in log
    assert sorted(p.name for p in (service.data_dir / "outputs").iterdir() if video_id in p.name) == [
        f"{video_id}.jpg", f"{video_id}.mp4"]


def test_worker_killed_on_last_attempt_fails_with_reason(make_service, media: Path, tmp_path: Path) -> None:
    service = make_service(workers=0, FACECAST_WORKER__MAX_ATTEMPTS="1").start()
    video_id = _kill_worker_mid_job(service, media, tmp_path)
    video = service.wait_for(f"/v1/videos/{video_id}", {"succeeded", "failed"}, 120)
    assert video["status"] == "failed" and video["error_code"] == "worker_lost", video
    assert "stopped 1 time" in video["error_message"]
    assert not (service.data_dir / "outputs" / f"{video_id}.mp4").exists()


def test_api_killed_then_full_restart_runs_queued_jobs(make_service, media: Path, short_wav: Path) -> None:
    service = make_service(workers=0).start()
    template_id = upload_template(service, media / "talking_man_480.mp4", "man")
    audio_id = upload_audio(service, short_wav)
    ids = [service.client.post("/v1/videos", json={"template_id": template_id, "audio_id": audio_id, "render_mode": "parametric",
                                                   "max_height": 240}).json()["id"] for _ in range(3)]
    service.kill_api()
    service.start(workers=1)  # same data directory: database and queue survive
    for video_id in ids:
        assert service.wait_for(f"/v1/videos/{video_id}", {"succeeded", "failed"}, 300)["status"] == "succeeded"
    assert service.client.get(f"/v1/templates/{template_id}").json()["status"] == "ready"
